import { type ErrorCode, PgSearchError } from "../errors.js";
import { redactCredentials } from "../observability/redact.js";

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The sync ran but did not complete (a table failed, Elasticsearch refused, guard tripped). */
  syncFailed: 1,
  /** The configuration or sync rules are invalid; nothing was written. */
  invalidConfig: 2,
  /** The sync completed but some documents failed or were over the size limit. */
  completedWithErrors: 3,
  /** Stopped by Ctrl-C / SIGTERM; the checkpoint lets the next run resume. */
  canceled: 130,
} as const;

/** The exit code of every error code: exhaustive, so a new code must be placed here. */
export const EXIT_BY_CODE: Record<ErrorCode, number> = {
  config_invalid: EXIT.invalidConfig,
  sync_rule_invalid: EXIT.invalidConfig,
  source_unknown_tables: EXIT.invalidConfig,
  source_ambiguous_table: EXIT.invalidConfig,
  canceled: EXIT.canceled,
  source_failed: EXIT.syncFailed,
  source_unreachable: EXIT.syncFailed,
  source_permission: EXIT.syncFailed,
  source_unsupported_version: EXIT.syncFailed,
  document_invalid: EXIT.syncFailed,
  sink_failed: EXIT.syncFailed,
  sink_unsupported: EXIT.syncFailed,
  too_many_errors: EXIT.syncFailed,
  delete_guard: EXIT.syncFailed,
  sync_partial: EXIT.syncFailed,
  lock_held: EXIT.syncFailed,
  lock_lost: EXIT.syncFailed,
  slot_in_use: EXIT.syncFailed,
  follow_table_gone: EXIT.syncFailed,
  follow_key_changed: EXIT.syncFailed,
  follow_document_refused: EXIT.syncFailed,
  metrics_listen_failed: EXIT.syncFailed,
  exists: EXIT.syncFailed,
  not_found: EXIT.syncFailed,
  internal: EXIT.syncFailed,
};

/** Prints an error the way the CLI reports it and returns the exit code it maps to. */
export function reportError(error: unknown): number {
  const write = (line: string): void => {
    process.stderr.write(`${redactCredentials(line)}\n`);
  };
  if (!(error instanceof PgSearchError)) {
    // PostgreSQL's insufficient_privilege: the role lacks a right; say which, not a stack trace.
    if ((error as { code?: unknown }).code === "42501") {
      write(
        `error: PostgreSQL refused: ${(error as Error).message}. sync --follow needs a role with REPLICATION ` +
          "(ALTER ROLE ... REPLICATION) and CREATE on the database for its publication, or a publication " +
          "and slot an administrator created; see docs/sync-modes.md",
      );
      return EXIT.syncFailed;
    }
    write(`unexpected error: ${(error as Error).stack ?? String(error)}`);
    return EXIT.syncFailed;
  }
  const exit = EXIT_BY_CODE[error.code];
  if (error.code === "canceled") write("canceled");
  // Configuration messages already name the file, line and key.
  else if (exit === EXIT.invalidConfig && error.code !== "source_unknown_tables") write(error.message);
  else write(`error: ${error.message}`);
  return exit;
}
