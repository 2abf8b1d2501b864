import pino from "pino";
import { ConfigError } from "../errors.js";
import { redactCredentials } from "./redact.js";

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
  /** Readable lines for a person at a terminal (the CLI on a TTY) instead of JSON. */
  human?: boolean;
  destination?: pino.DestinationStream;
}

/** A live display on the terminal (the sync progress) that log lines must not tear. */
export interface LiveRegion {
  clear(): void;
  redraw(): void;
}
export const terminal: { live?: LiveRegion } = {};

/** ECS's own top-level fields; anything else a log call adds goes under `pgsearch.*`. */
const ECS_FIELDS = new Set([
  "@timestamp",
  "agent",
  "client",
  "cloud",
  "container",
  "ecs",
  "err",
  "error",
  "event",
  "host",
  "http",
  "labels",
  "log",
  "message",
  "process",
  "service",
  "source",
  "tags",
  "trace",
  "transaction",
  "url",
  "user",
  "pgsearch",
]);

function namespaced(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) (ECS_FIELDS.has(key) ? out : own)[key] = value;
  if (Object.keys(own).length > 0) out.pgsearch = { ...(out.pgsearch as object | undefined), ...own };
  return out;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

/** Formats pino's JSON lines as `12:00:01 WARN message key=value` around the live display. */
function humanDestination(out: NodeJS.WritableStream = process.stderr): pino.DestinationStream {
  return {
    write(line: string): void {
      const fields = JSON.parse(line) as Record<string, unknown>;
      const { level, time, msg } = fields;
      const rest = Object.entries(fields).filter(
        ([k]) => !["level", "time", "msg", "pid", "hostname"].includes(k),
      );
      const when = new Date(typeof time === "number" ? time : Date.now()).toTimeString().slice(0, 8);
      const extra = rest.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
      terminal.live?.clear();
      out.write(
        `${when} ${LEVEL_NAMES[Number(level)] ?? String(level)} ${typeof msg === "string" ? msg : ""}${extra === "" ? "" : ` ${extra}`}\n`,
      );
      terminal.live?.redraw();
    },
  };
}

export async function createLogger(options: LoggerOptions = {}): Promise<Logger> {
  const base: pino.LoggerOptions = {
    level: options.level ?? process.env.PGSEARCH_LOG_LEVEL ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    // Free text (messages, exception texts, server errors) is masked too, whatever the format.
    hooks: { streamWrite: redactCredentials },
  };
  if (options.ecs === true && options.human !== true) {
    const { ecsFormat } = await import("@elastic/ecs-pino-format");
    const ecs = ecsFormat({ convertErr: true, serviceName: "pgsearch" });
    const log = ecs.formatters?.log;
    // pgsearch's own fields under `pgsearch.*`, so they never collide with ECS's.
    Object.assign(base, ecs, {
      formatters: {
        ...ecs.formatters,
        log: (fields: Record<string, unknown>) => (log ?? ((f) => f))(namespaced(fields)),
      },
    });
  }
  const destination =
    options.destination ??
    (options.human === true ? humanDestination() : pino.destination({ dest: 2, sync: false }));
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
