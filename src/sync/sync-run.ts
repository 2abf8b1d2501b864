import { CanceledError, DeleteGuardError, PgSearchError, SourceError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { BulkWriter } from "../sink/bulk-writer.js";
import type { SearchIndex } from "../sink/search-index.js";
import type { SourceStream } from "../source/plan.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import { CheckpointSaver } from "./checkpoint-saver.js";
import { type BatchTicket, CheckpointTracker } from "./checkpoints.js";
import { SyncIds } from "./collisions.js";
import { CollisionGuard } from "./id-owners.js";
import { deletePass } from "./delete-pass.js";
import { readStreamInto, type StreamReadContext } from "./stream-reader.js";
import type { PlannedSync } from "./sync-plan.js";
import type {
  OversizeDocument,
  StreamProgress,
  SyncDependencies,
  SyncProgress,
  SyncRequest,
  SyncResult,
} from "./sync-types.js";

type Key = (string | null)[];

/**
 * One sync after planning: reads every stream into the index from the snapshot (`readAll`), then
 * catches up rows read in an earlier run or an earlier snapshot, deletes what is stale and
 * records "completed" (`finish`). "completed" means the index equals the table at the snapshot.
 */
export class SyncRun {
  readonly writer: BulkWriter<BatchTicket>;
  private readonly tracker = new CheckpointTracker();
  private readonly saver: CheckpointSaver;
  private readonly progress = new Map<string, StreamProgress>();
  private readonly oversize: OversizeDocument[] = [];
  private readonly streamErrors: string[] = [];
  /** Streams resumed from a checkpoint: rows they read before may have changed since. */
  private readonly resumedStreams: SourceStream[] = [];
  private deleted = 0;
  /** Rows were read a second time (resume, lost snapshot): progress counts them twice. */
  private caughtUp = false;
  private deleteSkippedReason: string | undefined;
  private error: PgSearchError | undefined;
  private readonly ctx: StreamReadContext;

  constructor(
    private readonly deps: SyncDependencies,
    private readonly request: SyncRequest,
    private readonly planned: PlannedSync,
    private readonly index: SearchIndex,
    private readonly snapshot: SyncSnapshot,
    private readonly log: Logger,
    private readonly startTime: number,
  ) {
    this.writer = createWriter(deps, request, log);
    this.saver = new CheckpointSaver(deps.state, planned.state, this.tracker, log);
    planned.state.read_since ??= snapshot.startedAt;
    for (const skipped of planned.plan.skipped) {
      this.progress.set(skipped.table, {
        ...emptyProgress(skipped.table, -1),
        state: "skipped",
        error: skipped.reason,
      });
    }
    for (const stream of planned.plan.streams)
      this.progress.set(stream.id, emptyProgress(stream.id, stream.estimatedRows));
    this.ctx = {
      source: deps.source,
      server: planned.plan.server,
      snapshot,
      writer: this.writer,
      tracker: this.tracker,
      index,
      rules: request.basicRules,
      logger: deps.logger,
      batchRows: request.options.batchRows,
      fallbackTimestamp: JSON.stringify(new Date(startTime).toISOString().replace("Z", "+00:00")),
      oversize: this.oversize,
      collisions: planned.collisions,
      streams: planned.plan.streams,
      guard: new CollisionGuard(planned.plan.streams, deps.source.config),
      ids: new SyncIds(
        planned.plan.streams,
        deps.source.config.database,
        deps.source.config.documentMode === "compat",
      ),
      signal: request.signal,
    };
  }

  emit(phase: SyncProgress["phase"]): void {
    this.request.onProgress?.({
      phase,
      streams: [...this.progress.values()],
      bulk: this.writer.stats,
      deleted: this.deleted,
      elapsedMs: Date.now() - this.startTime,
    });
  }

  /** Reads every stream (at most `parallel_tables` at once); a failed table fails only itself. */
  async readAll(): Promise<void> {
    this.saver.startTimer();
    await this.saver.save("running");
    this.emit("reading");
    const progressTimer = setInterval(() => {
      this.emit("reading");
    }, 500);
    progressTimer.unref();
    try {
      await runLimited(this.planned.plan.streams, this.request.options.parallelTables, (stream) =>
        this.readOne(stream),
      );
      await this.writer.flush();
      await this.catchUp();
    } finally {
      clearInterval(progressTimer);
    }
  }

  private async readOne(stream: SourceStream): Promise<void> {
    const p = this.progress.get(stream.id) as StreamProgress;
    const checkpoint = this.planned.checkpoints[stream.id];
    const after = checkpoint?.after == null ? undefined : (JSON.parse(checkpoint.after) as Key);
    if (checkpoint !== undefined && (checkpoint.done || after !== undefined))
      this.resumedStreams.push(stream);
    this.tracker.start(stream.id, after ?? null, checkpoint?.rows ?? 0);
    if (checkpoint?.done === true) {
      this.tracker.finish(stream.id);
      p.state = "done";
      p.rowsRead = checkpoint.rows;
      return;
    }
    p.state = "reading";
    try {
      await readStreamInto(stream, this.ctx, p, {
        after,
        changedSince: this.planned.changedSince,
        skipUnchanged: this.planned.skipUnchanged,
      });
      this.tracker.finish(stream.id);
      p.state = "done";
    } catch (streamError) {
      if (streamError instanceof CanceledError || this.request.signal?.aborted === true) throw streamError;
      p.state = "failed";
      p.error = (streamError as Error).message;
      this.streamErrors.push(`${stream.id}: ${p.error}`);
      this.log.error({ table: stream.id, err: streamError }, `reading ${stream.id} failed`);
    }
  }

  /**
   * Rows read before an interruption, or in a snapshot PostgreSQL lost (a restart), may have
   * changed since: they are read again, by commit time when track_commit_timestamp is on, else
   * by comparing them with their stored documents, and the changed ones are sent (issue 10.3).
   */
  private async catchUp(): Promise<void> {
    const lostSnapshot = this.snapshot.snapshotId !== null && this.snapshot.coordinatorLost;
    const streams = lostSnapshot ? this.planned.plan.streams : this.resumedStreams;
    if (streams.length === 0 || this.streamErrors.length > 0) return;
    const since = this.planned.plan.server.commitTimestamps ? this.planned.state.read_since : undefined;
    const how = since === undefined ? "comparing with the stored documents" : `committed since ${since}`;
    const warning = lostSnapshot
      ? `PostgreSQL ended the sync's snapshot (restart or lost connection): rows read before were read again, ${how}`
      : `resumed: rows read before the interruption were read again, ${how}`;
    this.planned.warnings.push(warning);
    this.log.warn({ streams: streams.map((s) => s.id) }, warning);
    this.caughtUp = true;
    for (const stream of streams) {
      await readStreamInto(stream, this.ctx, this.progress.get(stream.id) as StreamProgress, {
        after: undefined,
        changedSince: since,
        skipUnchanged: true,
        catchUp: true,
      });
    }
    await this.writer.flush();
  }

  /** Deletes stale documents (only when every stream was read to the end) and records "completed". */
  async finish(): Promise<void> {
    if (this.streamErrors.length > 0) {
      this.deleteSkippedReason = `not deleting stale documents: ${this.streamErrors.length} table(s) failed (${this.streamErrors.join("; ")})`;
      throw new SourceError(this.deleteSkippedReason, { code: "sync_partial" });
    }
    if (this.writer.stats.failed > 0) {
      this.planned.warnings.push(`${this.writer.stats.failed} document(s) failed to index; see failures`);
    }
    this.emit("deleting");
    if (this.planned.indexWasEmpty && !this.planned.resumed) {
      // Everything in the index was written by this sync from this snapshot: nothing is stale.
      this.deleteSkippedReason = "the index was empty when the sync started: nothing to delete";
    } else if (await this.indexHoldsOnlyWhatWasRead()) {
      this.deleteSkippedReason = "every document in the index is a row this sync read: nothing to delete";
    } else {
      // The scan must see what this sync wrote: judged by its previous version (another
      // source, an older key), a document rewritten a moment ago would be deleted.
      await this.index.refresh(this.request.signal);
      this.deleted = await deletePass({
        source: this.deps.source,
        plan: this.planned.plan,
        snapshot: this.snapshot,
        writer: this.writer,
        index: this.index,
        rules: this.request.basicRules,
        maxDeletePercent: this.request.options.maxDeletePercent,
        allowMassDelete: this.request.allowMassDelete === true,
        signal: this.request.signal,
        onDeleted: (n) => {
          this.deleted = n;
          this.emit("deleting");
        },
      });
    }
    await this.writer.flush();
    await this.saver.complete((state) => {
      state.cursor = { snapshot_started_at: this.snapshot.startedAt, job_type: this.request.jobType };
      state.streams = {};
      state.read_since = undefined;
      state.last_result = {
        status: "completed",
        completed_at: new Date().toISOString(),
        bulk: this.writer.stats,
        deleted: this.deleted,
      };
    });
  }

  /** Records why the sync stopped; the checkpoint keeps only acknowledged writes. */
  /**
   * One stream read once, nothing failed: every id it indexed or found unchanged is in the index
   * and the ids are distinct (collisions are refused), so an index holding exactly that many
   * documents holds nothing stale and the delete pass (a scan of the whole index and a key
   * look-up in PostgreSQL per document) can be skipped. Anything else runs it.
   */
  private async indexHoldsOnlyWhatWasRead(): Promise<boolean> {
    const streams = this.planned.plan.streams;
    const only = streams.length === 1 ? this.progress.get(streams[0]?.id ?? "") : undefined;
    if (only === undefined || this.planned.resumed || this.caughtUp) return false;
    await this.writer.flush();
    if (this.writer.stats.failed > 0) return false;
    await this.index.refresh(this.request.signal);
    return (await this.index.count(undefined, this.request.signal)) === only.docsSent + only.unchanged;
  }

  async fail(caught: unknown): Promise<void> {
    this.saver.stopTimer();
    const error = toPgSearchError(caught, this.request.signal);
    this.error = error;
    this.deleteSkippedReason ??= `not deleting stale documents: the sync did not finish (${error.message})`;
    await this.writer.flush().catch(() => undefined);
    await this.saver.save(error instanceof CanceledError ? "interrupted" : "failed");
  }

  stop(): void {
    this.saver.stopTimer();
  }

  async result(startedAt: string): Promise<SyncResult> {
    const indexCount = await this.index
      .refresh()
      .then(() => this.index.count())
      .catch(() => undefined);
    this.emit("done");
    const error = this.error;
    const cursor = this.planned.state.cursor;
    return {
      status: error === undefined ? "completed" : error instanceof CanceledError ? "canceled" : "failed",
      jobType: this.request.jobType,
      indexName: this.request.indexName,
      startedAt,
      durationMs: Date.now() - this.startTime,
      resumed: this.planned.resumed,
      streams: [...this.progress.values()],
      skipped: this.planned.plan.skipped,
      bulk: { ...this.writer.stats },
      failures: this.writer.failures.map((f) => ({
        id: f.id,
        table: (f.tag as BatchTicket | undefined)?.stream,
        status: f.status,
        reason: f.reason,
      })),
      oversize: this.oversize,
      collisions: this.planned.collisions,
      deleted: this.deleted,
      warnings: this.planned.warnings,
      ...(this.deleteSkippedReason === undefined ? {} : { deleteSkippedReason: this.deleteSkippedReason }),
      ...(indexCount === undefined ? {} : { indexCount }),
      ...(error === undefined ? {} : { error }),
      ...(error === undefined && cursor !== undefined ? { cursor } : {}),
    };
  }
}

function createWriter(deps: SyncDependencies, request: SyncRequest, log: Logger): BulkWriter<BatchTicket> {
  let failed = 0;
  const o = request.options;
  return new BulkWriter<BatchTicket>({
    client: deps.client,
    index: request.indexName,
    pipeline: o.pipeline ?? undefined,
    maxBytes: o.bulkMaxBytes,
    maxDocs: o.bulkMaxDocs,
    concurrency: o.bulkConcurrency,
    errorBudget: {
      maxConsecutive: o.maxConsecutiveErrors,
      maxTotal: o.maxTotalErrors,
      maxRate: o.maxErrorRate,
      window: 100,
    },
    signal: request.signal,
    onItem: (item, _outcome, failure) => {
      item.tag?.ack();
      if (failure === undefined) return;
      // The first ten in full, then one line at 100, 1000, ...: the result lists them by reason.
      failed++;
      if (failed <= 10)
        log.error(
          { document_id: failure.id, status: failure.status, table: item.tag?.stream },
          `document failed: ${failure.reason}`,
        );
      else if (Number.isInteger(Math.log10(failed)))
        log.error({ failed }, `${failed} documents failed so far; the latest: ${failure.reason}`);
    },
    onRetry: (info) => {
      log.warn(info, "Elasticsearch pushed back; retrying");
    },
  });
}

function emptyProgress(stream: string, estimatedRows: number): StreamProgress {
  return {
    stream,
    estimatedRows,
    rowsRead: 0,
    docsSent: 0,
    unchanged: 0,
    filtered: 0,
    oversize: 0,
    state: "waiting",
  };
}

function toPgSearchError(error: unknown, signal: AbortSignal | undefined): PgSearchError {
  if (signal?.aborted === true && !(error instanceof DeleteGuardError)) {
    // Aborted for a reason other than a cancel (the index lock was lost): that reason is the error.
    const reason: unknown = signal.reason;
    if (reason instanceof PgSearchError && !(reason instanceof CanceledError)) return reason;
    return error instanceof CanceledError
      ? error
      : new CanceledError("the sync was canceled", { cause: error });
  }
  if (error instanceof PgSearchError) return error;
  return new PgSearchError(error instanceof Error ? error.message : String(error), {
    code: "internal",
    cause: error,
  });
}

/** Runs `work` over items with at most `limit` at once; the first error rejects after all settle. */
async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && firstError === undefined) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError !== undefined)
    throw firstError instanceof Error
      ? firstError
      : new Error("a stream worker failed", { cause: firstError });
}
