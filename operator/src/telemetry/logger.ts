import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * Fields that may hold key material or tokens. Signet never passes such values to a
 * logger on purpose; redaction is the second line of defence.
 */
export const REDACTED_PATHS = [
  "key",
  "keyPem",
  "privateKey",
  "token",
  "data",
  "stringData",
  "*.key",
  "*.keyPem",
  "*.privateKey",
  "*.token",
  "*.data",
  "*.stringData",
  '*["tls.key"]',
  'data["tls.key"]',
  "err.body.data",
];

export interface LoggerOptions {
  level?: string;
  component?: string;
  destination?: DestinationStream;
}

/** Structured JSON logs, one object a line, with redaction of secret-bearing fields. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.SIGNET_LOG_LEVEL ?? "info",
      base: { component: options.component ?? "signet" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
