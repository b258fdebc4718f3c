import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Header and field paths that may carry credentials; pino replaces their values. */
export const REDACTED_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.secret',
];

/** Options for the process logger. */
export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: string;
  /** Where JSON lines go. @default standard output */
  readonly destination?: NodeJS.WritableStream;
}

/** A JSON-lines logger with credential fields redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      base: { service: 'slipway' },
    },
    options.destination ?? process.stdout,
  );
}
