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

/** An API error in one line: the HTTP status and the API server's message, without headers. */
export function describeError(err: unknown): string {
  const { code, body, message } = (err ?? {}) as { code?: unknown; body?: unknown; message?: string };
  if (typeof code === "number" && body !== undefined) {
    try {
      const parsed = (typeof body === "string" ? JSON.parse(body) : body) as { message?: string };
      if (parsed?.message) return `HTTP ${code}: ${parsed.message}`;
    } catch {
      // not JSON: fall through to the plain message
    }
    return `HTTP ${code}`;
  }
  return message ?? String(err);
}

/**
 * Logs a reconcile that will be retried. A 409 is the normal outcome of a resourceVersion-guarded
 * write racing a newer watch event, so it is logged at debug level; anything else is a warning.
 */
export function logRetry(log: Logger, fields: Record<string, unknown>, what: string, err: unknown): void {
  const conflict = (err as { code?: unknown } | undefined)?.code === 409;
  log[conflict ? "debug" : "warn"]({ ...fields, err: describeError(err) }, `${what}; retrying`);
}
