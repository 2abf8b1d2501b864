import { CanceledError, ConfigError, ConfigErrors, PgSearchError, SyncRuleError } from "../errors.js";

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

/** Prints an error the way the CLI reports it and returns the exit code it maps to. */
export function reportError(error: unknown): number {
  if (error instanceof ConfigErrors || error instanceof ConfigError || error instanceof SyncRuleError) {
    process.stderr.write(`${error.message}\n`);
    return EXIT.invalidConfig;
  }
  if (error instanceof CanceledError) {
    process.stderr.write("canceled\n");
    return EXIT.canceled;
  }
  if (error instanceof PgSearchError) {
    process.stderr.write(`error: ${error.message}\n`);
    return error.code === "sync_rule_invalid" || error.code === "source_unknown_tables"
      ? EXIT.invalidConfig
      : EXIT.syncFailed;
  }
  process.stderr.write(`unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.syncFailed;
}
