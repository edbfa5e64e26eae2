import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from './logger.js';

const ACTIVITY_ONLY = 'No workflows registered, not polling for workflow tasks';
const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Temporal's Logger interface over pino; workflow and activity context (ids, types, attempt) arrives as metadata. */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    // Core's records carry a bigint timestampNanos that JSON cannot hold; pino has its own time.
    const { timestampNanos: _t, ...rest } = (meta ?? {}) as LogMetadata & { timestampNanos?: bigint };
    // The worker's own lifecycle (initializing, state changes, shutdown) is routine: debug, not info; so is the
    // warning every activity-only worker (cairn-train) starts with.
    const routine =
      rest.sdkComponent === 'worker' && (level === 'INFO' || (level === 'WARN' && message === ACTIVITY_ONLY));
    this.pino[LEVELS[routine ? 'DEBUG' : level]](rest, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

export interface RuntimeSetup {
  logger: Logger;
  /** Serve the SDK's Prometheus metrics on 127.0.0.1:<port>; omit to serve none. */
  metricsPort?: number;
}

/**
 * Installs the process-wide Temporal Runtime once: SDK, workflow and activity logs go to pino,
 * core (Rust) logs are forwarded at WARN and above, metrics are served for Prometheus.
 */
export function installTemporalRuntime({ logger, metricsPort }: RuntimeSetup): void {
  Runtime.install({
    logger: new TemporalPinoLogger(logger),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
      ...(metricsPort ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${metricsPort}` } } } : {}),
    },
  });
}
