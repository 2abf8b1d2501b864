/**
 * One root class for every error pgsearch raises on purpose. Each subclass carries the thing that
 * caused it (field, table, rule, status) so the CLI and the service can say exactly what is wrong.
 * Messages never contain secrets: callers pass field names and identifiers, not values.
 */
/**
 * Every error code pgsearch raises: one union, so the CLI maps each to an exit code (src/cli/
 * exit-codes.ts, exhaustively) and nothing matches on free strings.
 */
export const ERROR_CODES = [
  "config_invalid",
  "sync_rule_invalid",
  "source_failed",
  "source_unreachable",
  "source_permission",
  "source_unknown_tables",
  "source_ambiguous_table",
  "source_unsupported_version",
  "document_invalid",
  "sink_failed",
  "sink_unsupported",
  "too_many_errors",
  "canceled",
  "delete_guard",
  "sync_partial",
  "lock_held",
  "lock_lost",
  "slot_in_use",
  "follow_table_gone",
  "follow_key_changed",
  "follow_document_refused",
  "metrics_listen_failed",
  "exists",
  "not_found",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class PgSearchError extends Error {
  /** Stable machine-readable code, e.g. "config_invalid", "source_unreachable". */
  readonly code: ErrorCode;
  /** Whether trying the same operation again may succeed (dropped connection, 429, 5xx). */
  readonly retryable: boolean;

  constructor(message: string, options: { code: ErrorCode; retryable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/** A configuration value is missing or invalid. `field` is the dotted path, e.g. "configuration.port". */
export class ConfigError extends PgSearchError {
  readonly field: string;
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${field}: ${message}`, { code: "config_invalid", ...options });
    this.field = field;
  }
}

/** Several configuration problems found at once; each one is a ConfigError. */
export class ConfigErrors extends PgSearchError {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(`invalid configuration:\n${errors.map((e) => `  - ${e.message}`).join("\n")}`, {
      code: "config_invalid",
    });
    this.errors = errors;
  }
}

/** A sync rule (basic or advanced) is invalid. `rule` is "advanced[2]" or "basic[id=...]". */
export class SyncRuleError extends PgSearchError {
  readonly rule: string;
  constructor(rule: string, message: string, options: { cause?: unknown } = {}) {
    super(`sync rule ${rule}: ${message}`, { code: "sync_rule_invalid", ...options });
    this.rule = rule;
  }
}

/** PostgreSQL failed: connection, permission, query. `table` names the source when known. */
export class SourceError extends PgSearchError {
  readonly table: string | undefined;
  /** PostgreSQL SQLSTATE, when the server sent one. */
  readonly sqlState: string | undefined;
  constructor(
    message: string,
    options: {
      table?: string;
      sqlState?: string;
      retryable?: boolean;
      cause?: unknown;
      code?: ErrorCode;
    } = {},
  ) {
    super(options.table === undefined ? message : `table ${options.table}: ${message}`, {
      code: options.code ?? "source_failed",
      retryable: options.retryable ?? false,
      cause: options.cause,
    });
    this.table = options.table;
    this.sqlState = options.sqlState;
  }
}

/** A row could not be turned into a document. Names the table, column and key. */
export class DocumentError extends PgSearchError {
  readonly table: string;
  readonly key: string;
  constructor(table: string, key: string, message: string, options: { cause?: unknown } = {}) {
    super(`table ${table}, row ${key}: ${message}`, { code: "document_invalid", ...options });
    this.table = table;
    this.key = key;
  }
}

/** Elasticsearch answered with an error, or could not be reached. */
export class SinkError extends PgSearchError {
  readonly status: number | undefined;
  readonly documentId: string | undefined;
  constructor(
    message: string,
    options: {
      status?: number;
      documentId?: string;
      retryable?: boolean;
      cause?: unknown;
      code?: ErrorCode;
    } = {},
  ) {
    super(message, {
      code: options.code ?? "sink_failed",
      retryable: options.retryable ?? false,
      cause: options.cause,
    });
    this.status = options.status;
    this.documentId = options.documentId;
  }
}

/** Too many bulk items failed; the sync stops rather than silently losing more. */
export class TooManyErrorsError extends SinkError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "too_many_errors", ...options });
  }
}

/** The operation was canceled through its AbortSignal. */
export class CanceledError extends PgSearchError {
  constructor(message = "canceled", options: { cause?: unknown } = {}) {
    super(message, { code: "canceled", ...options });
  }
}

/** The delete pass would remove more of the index than the configured guard allows. */
export class DeleteGuardError extends PgSearchError {
  readonly wouldDelete: number;
  readonly indexSize: number;
  constructor(wouldDelete: number, indexSize: number, maxPercent: number) {
    super(
      `refusing to delete ${wouldDelete} of ${indexSize} documents (more than ${maxPercent}% of the index); ` +
        `run again with --allow-mass-delete if the source really lost these rows`,
      { code: "delete_guard" },
    );
    this.wouldDelete = wouldDelete;
    this.indexSize = indexSize;
  }
}

/** Throws CanceledError when the signal is aborted; call between units of work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw signal.reason instanceof PgSearchError
      ? signal.reason
      : new CanceledError("canceled", { cause: signal.reason });
  }
}

/**
 * Elasticsearch kept refusing a change follow mode applies (after its retries). The slot is left
 * before the change, so a restart applies it; `follow.on_document_error: record` goes on instead.
 */
export class FollowDocumentError extends SinkError {
  constructor(failure: { id: string; status: number; reason: string }, refused: number, lsn: string) {
    super(
      `Elasticsearch refused document ${failure.id} (HTTP ${failure.status}: ${failure.reason})` +
        `${refused > 1 ? ` and ${refused - 1} other change(s)` : ""}; stopped without confirming the changes ` +
        `from before ${lsn}: a restart applies them (or set follow.on_document_error: record)`,
      { status: failure.status, documentId: failure.id, code: "follow_document_refused" },
    );
  }
}

/** Another process holds the lock of this index (a sync) or of this slot (follow). */
export class LockHeldError extends PgSearchError {
  readonly holder: { host: string; pid: number; since: string };
  constructor(what: string, holder: { host: string; pid: number; since: string }) {
    super(`${what} is in use by ${holder.host}/${holder.pid} since ${holder.since}`, { code: "lock_held" });
    this.holder = holder;
  }
}
