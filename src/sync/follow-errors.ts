import { PgSearchError, SourceError } from "../errors.js";
import { isConnectionLost } from "../source/connection.js";

/** A replication failure as the follow session sees it: retryable (connection, slot busy) or not. */
export function asFollowError(failure: unknown, slotName: string): PgSearchError {
  if (failure instanceof PgSearchError) return failure;
  const message = (failure as Error).message;
  if ((failure as { code?: unknown }).code === "55006") {
    // object_in_use: "replication slot X is active for PID N": another consumer streams it.
    const pid = /PID (\d+)/i.exec(message)?.[1] ?? "?";
    return new SourceError(
      `slot ${slotName} is in use by another consumer (PostgreSQL backend pid ${pid}); retrying`,
      { cause: failure, retryable: true, code: "slot_in_use" },
    );
  }
  return new SourceError(`replication stream failed: ${message}`, {
    cause: failure,
    retryable: isConnectionLost(failure),
  });
}

/** 5 s, 10 s, 20 s ... capped at 5 minutes, with up to 20% jitter so instances spread out. */
export function followRetryDelayMs(attempt: number): number {
  const base = Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base * (1 + Math.random() * 0.2));
}
