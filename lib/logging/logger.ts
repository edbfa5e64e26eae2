import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';
import type { CairnConfig } from '../config/index.js';
import { redactDeep, redactSecrets } from '../config/redact.js';

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
      // Secrets inside text (a URL's password, `?token=`…), in the message and in every string field, errors included.
      formatters: { log: (record) => redactDeep(record) },
      serializers: { err: (err: Error) => redactDeep({ ...pino.stdSerializers.err(err) }) },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a: unknown) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>
          );
        },
      },
    },
    destination
  );
}
