import pino from "pino";
import { ConfigError } from "../errors.js";

/** The logging surface the rest of the code uses; pino's Logger satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Paths pino blanks out wherever they appear, so secrets never reach a log line. */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "api_key",
  "*.api_key",
  "apiKey",
  "*.apiKey",
  "ssl_key",
  "*.ssl_key",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
];

/**
 * A log level as pino names it, from ours (debug, info, warn, error) or Elastic's service
 * (`--log-level DEBUG|INFO|WARNING|ERROR|CRITICAL`, `service.log_level`), any case.
 */
export function normalizeLogLevel(value: string, field: string): string {
  const aliases: Record<string, string> = {
    trace: "trace",
    debug: "debug",
    info: "info",
    warn: "warn",
    warning: "warn",
    error: "error",
    critical: "fatal",
    fatal: "fatal",
    silent: "silent",
  };
  const level = aliases[value.toLowerCase()];
  if (level === undefined) {
    throw new ConfigError(
      field,
      `must be one of debug, info, warning, error, critical; got ${JSON.stringify(value)}`,
    );
  }
  return level;
}

export interface LoggerOptions {
  level?: string;
  /** ECS JSON (for the service and log shippers) or plain JSON lines. */
  ecs?: boolean;
  destination?: pino.DestinationStream;
}

export async function createLogger(options: LoggerOptions = {}): Promise<Logger> {
  const base: pino.LoggerOptions = {
    level: options.level ?? process.env.PGSEARCH_LOG_LEVEL ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (options.ecs === true) {
    const { ecsFormat } = await import("@elastic/ecs-pino-format");
    Object.assign(base, ecsFormat({ convertErr: true }));
  }
  const destination = options.destination ?? pino.destination({ dest: 2, sync: false });
  return pino(base, destination);
}

/** A logger that drops everything (library use and tests that assert on results instead). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
