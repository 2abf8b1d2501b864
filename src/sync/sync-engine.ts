import { SearchIndex } from "../sink/search-index.js";
import { PgSearchError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { acquireLock } from "./lock.js";
import { planSync } from "./sync-plan.js";
import { SyncRun } from "./sync-run.js";
import type { SyncDependencies, SyncRequest, SyncResult } from "./sync-types.js";

export type {
  DocumentFailure,
  JobType,
  OversizeDocument,
  StreamProgress,
  SyncCursor,
  SyncDependencies,
  SyncProgress,
  SyncRequest,
  SyncResult,
} from "./sync-types.js";

/**
 * Runs one sync: plans it (sync-plan), reads every stream from one PostgreSQL snapshot into the
 * index, then deletes the documents whose rows are gone — only when every stream was read
 * completely (sync-run, delete-pass).
 */
export class SyncEngine {
  constructor(private readonly deps: SyncDependencies) {}

  async run(request: SyncRequest): Promise<SyncResult> {
    const startTime = Date.now();
    const startedAt = new Date(startTime).toISOString();
    const index = new SearchIndex(this.deps.client, request.indexName);
    const log = this.deps.logger.child({ index: request.indexName, job_type: request.jobType });
    // One sync per index at a time: a second one would "resume" the first's live checkpoint.
    const lockLost = new AbortController();
    const lock = await acquireLock(this.deps.client, `index:${request.indexName}`, {
      what: `index ${request.indexName}`,
      logger: log,
      signal: request.signal,
      onLost: (error) => {
        // Another process took the index over (this one stalled past the lock's expiry): stop.
        log.error({ err: error }, error.message);
        lockLost.abort(new PgSearchError(`${error.message}; this sync stopped`, { code: "lock_lost" }));
      },
    });
    const signal =
      request.signal === undefined ? lockLost.signal : AbortSignal.any([request.signal, lockLost.signal]);
    let result: SyncResult;
    try {
      result = await this.runLocked({ ...request, signal }, index, log, startTime, startedAt);
    } finally {
      await lock.release();
    }
    log.info(
      {
        status: result.status,
        created: result.bulk.created,
        updated: result.bulk.updated,
        deleted: result.deleted,
        unchanged: result.streams.reduce((n, s) => n + s.unchanged, 0),
        failed: result.bulk.failed,
        duration_ms: result.durationMs,
      },
      `sync ended with status ${result.status}`,
    );
    return result;
  }

  private async runLocked(
    request: SyncRequest,
    index: SearchIndex,
    log: Logger,
    startTime: number,
    startedAt: string,
  ): Promise<SyncResult> {
    const planned = await planSync(this.deps, request, index, log, startedAt);
    const snapshot = await this.deps.source.openSnapshot(request.signal);
    const run = new SyncRun(this.deps, request, planned, index, snapshot, log, startTime);
    try {
      await run.readAll();
      await run.finish();
    } catch (caught) {
      await run.fail(caught);
    } finally {
      run.stop();
      await snapshot.close();
    }
    return run.result(startedAt);
  }
}
