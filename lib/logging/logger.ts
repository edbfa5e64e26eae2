import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';
import type { CairnConfig } from '../config/index.js';

export type Logger = PinoLogger;

/** Paths pino blanks out wherever they appear in a log record. */
const REDACT = [
  'secretKey',
  'apiKey',
  'password',
  '*.secretKey',
  '*.apiKey',
  '*.password',
  '*.*.secretKey',
  '*.*.apiKey',
  'authorization',
  '*.authorization',
];

/** The one logger factory: JSON to stderr (stdout stays for command output), secrets redacted. */
export function createLogger(
  config: Pick<CairnConfig, 'logLevel'>,
  bindings: Record<string, unknown> = {},
  destination: DestinationStream = pino.destination(2)
): Logger {
  return pino(
    {
      level: config.logLevel,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { pid: process.pid, ...bindings },
    },
    destination
  );
}
