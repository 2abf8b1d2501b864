import type { Client } from "@elastic/elasticsearch";
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { SyncOptions } from "../config/app-config.js";
import { CanceledError, DeleteGuardError, PgSearchError, SourceError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { AdvancedRule } from "../rules/advanced.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import { pushDownBasicRules, type PushedFilter } from "../rules/pushdown.js";
import { BulkWriter, type BulkStats } from "../sink/bulk-writer.js";
import { SearchIndex } from "../sink/search-index.js";
import { typedMappings } from "../sink/typed-mappings.js";
import type { ServerInfo } from "../source/catalog.js";
import { columnRef, type SkippedTable, type SourcePlan, type SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import { type BatchTicket, CheckpointTracker } from "./checkpoints.js";
import { fieldCollisions, IdCollisionDetector, type Collision } from "./collisions.js";
import { DocumentBuilder, META_FIELD } from "./document.js";
import type { StateStore, SyncState } from "./state-store.js";

export type JobType = "full" | "incremental";

export interface SyncRequest {
  indexName: string;
  jobType: JobType;
  advancedRules: AdvancedRule[];
  basicRules: BasicRuleEngine;
  options: SyncOptions;
  /** Let the delete pass remove more than `max_delete_percent` of the index. */
  allowMassDelete?: boolean;
  /** Continue an interrupted sync of the same plan from its checkpoints (default true). */
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
  /**
   * Incremental cursor to start from (service mode: the connector's `sync_cursor`); standalone
   * syncs keep it in the state index.
   */
  cursor?: SyncCursor | null | undefined;
}

export interface SyncCursor {
  snapshot_started_at: string;
  job_type: string;
}

export interface StreamProgress {
  stream: string;
  estimatedRows: number;
  rowsRead: number;
  docsSent: number;
  unchanged: number;
  filtered: number;
  oversize: number;
  state: "waiting" | "reading" | "done" | "failed" | "skipped";
  error?: string;
}

export interface SyncProgress {
  phase: "planning" | "reading" | "deleting" | "done";
  streams: StreamProgress[];
  bulk: BulkStats;
  deleted: number;
  elapsedMs: number;
}

export interface DocumentFailure {
  id: string;
  table: string | undefined;
  status: number;
  reason: string;
}

export interface OversizeDocument {
  stream: string;
  key: (string | null)[];
  id: string;
  bytes: number;
}

export interface SyncResult {
  status: "completed" | "failed" | "canceled";
  jobType: JobType;
  indexName: string;
  startedAt: string;
  durationMs: number;
  resumed: boolean;
  streams: StreamProgress[];
  skipped: SkippedTable[];
  bulk: BulkStats;
  /** Documents Elasticsearch refused, with the table and the reason (the first 100). */
  failures: DocumentFailure[];
  oversize: OversizeDocument[];
  /** Rows that would share a document id, columns that would share a field (exit 3). */
  collisions: Collision[];
  /** Documents deleted because the source no longer has them. */
  deleted: number;
  /** Why the delete pass did not run, when it did not. */
  deleteSkippedReason?: string;
  /** Total documents in the index at the end. */
  indexCount?: number;
  error?: PgSearchError;
  warnings: string[];
  /** Where the next incremental sync starts (set when the sync completed). */
  cursor?: SyncCursor;
}

export interface SyncDependencies {
  source: PostgresSource;
  client: Client;
  state: StateStore;
  logger: Logger;
}

/**
 * Runs one sync: reads every stream from one PostgreSQL snapshot into the index, then (full
 * syncs, and incremental ones) deletes the documents whose rows are gone — only when every
 * stream was read completely.
 */
export class SyncEngine {
  constructor(private readonly deps: SyncDependencies) {}

  async run(request: SyncRequest): Promise<SyncResult> {
    const { source, client, logger } = this.deps;
    const startTime = Date.now();
    const startedAt = new Date(startTime).toISOString();
    const index = new SearchIndex(client, request.indexName);
    const warnings: string[] = [];
    const progress = new Map<string, StreamProgress>();
    const oversize: OversizeDocument[] = [];
    const collisions: Collision[] = [];
    const tracker = new CheckpointTracker();
    const signal = request.signal;
    const log = logger.child({ index: request.indexName, job_type: request.jobType });

    const plan = await source.plan(request.advancedRules, signal);
    // Basic rules that translate exactly run in PostgreSQL: excluded rows are never read.
    for (const stream of plan.streams) stream.filter = pushDownRules(stream, request.basicRules);
    for (const skipped of plan.skipped) {
      log.warn({ table: skipped.table }, `skipping table ${skipped.table}: ${skipped.reason}`);
    }
    const compat = source.config.documentMode === "compat";
    for (const stream of plan.streams) collisions.push(...fieldCollisions(stream, compat));
    for (const c of collisions) log.warn({ table: c.stream, field: c.target }, c.message);
    // Typed mappings: on a new index for every column, on an existing one for unmapped fields.
    await index.ensure({
      ...(request.options.mappings === "typed"
        ? { properties: typedMappings(plan.streams, source.config.documentMode === "compat") }
        : {}),
      ...(signal === undefined ? {} : { signal }),
    });

    const fingerprint = planFingerprint(plan.streams, request);
    const previous = await this.deps.state.load(request.indexName, signal);
    const resumed =
      (request.resume ?? true) &&
      previous !== undefined &&
      (previous.status === "running" || previous.status === "interrupted") &&
      previous.fingerprint === fingerprint &&
      previous.job_type === request.jobType;
    if (resumed)
      log.info({ started_at: previous.started_at }, "resuming the interrupted sync from its checkpoints");

    // Incremental: rows committed since the previous completed sync's snapshot started.
    let changedSince: string | undefined;
    if (request.jobType === "incremental") {
      const cursor = (request.cursor ?? previous?.cursor)?.snapshot_started_at;
      if (!plan.server.commitTimestamps) {
        warnings.push(
          "track_commit_timestamp is off: the incremental sync reads every row (as a full sync would)",
        );
      } else if (cursor === undefined) {
        warnings.push("no previous sync cursor: the incremental sync reads every row this time");
      } else {
        changedSince = cursor;
      }
    }
    for (const w of warnings) log.warn({}, w);

    const indexWasEmpty = (await index.count(undefined, signal)) === 0;
    const skipUnchanged = request.options.skipUnchanged && !indexWasEmpty;

    const state: SyncState = {
      index_name: request.indexName,
      status: "running",
      job_type: request.jobType,
      fingerprint,
      started_at: resumed ? previous.started_at : startedAt,
      updated_at: startedAt,
      streams: resumed ? previous.streams : {},
      cursor: previous?.cursor,
    };

    const snapshot = await source.openSnapshot(signal);
    // The server's clock at the snapshot bounds the next incremental sync's window.
    const snapshotStartedAt = snapshot.startedAt;
    const fallbackTimestamp = JSON.stringify(startedAt.replace("Z", "+00:00"));
    const writer = new BulkWriter<BatchTicket>({
      client,
      index: request.indexName,
      pipeline: request.options.pipeline ?? undefined,
      maxBytes: request.options.bulkMaxBytes,
      maxDocs: request.options.bulkMaxDocs,
      concurrency: request.options.bulkConcurrency,
      errorBudget: {
        maxConsecutive: request.options.maxConsecutiveErrors,
        maxTotal: request.options.maxTotalErrors,
        maxRate: request.options.maxErrorRate,
        window: 100,
      },
      signal,
      onItem: (item, outcome, failure) => {
        item.tag?.ack();
        if (failure !== undefined) {
          log.error(
            { document_id: failure.id, status: failure.status, table: streamOfTag(item.tag) },
            `document failed: ${failure.reason}`,
          );
        }
      },
      onRetry: (info) => {
        log.warn(info, "Elasticsearch pushed back; retrying");
      },
    });

    const emit = (phase: SyncProgress["phase"], deleted = 0): void => {
      request.onProgress?.({
        phase,
        streams: [...progress.values()],
        bulk: writer.stats,
        deleted,
        elapsedMs: Date.now() - startTime,
      });
    };
    for (const skipped of plan.skipped) {
      progress.set(skipped.table, {
        ...emptyProgress(skipped.table, -1),
        state: "skipped",
        error: skipped.reason,
      });
    }
    for (const stream of plan.streams)
      progress.set(stream.id, emptyProgress(stream.id, stream.estimatedRows));

    const saveState = async (status: SyncState["status"]): Promise<void> => {
      state.status = status;
      state.updated_at = new Date().toISOString();
      state.streams = { ...state.streams, ...tracker.snapshot() };
      await this.deps.state.save(state).catch((error: unknown) => {
        log.warn({ err: error }, "could not save the checkpoint");
      });
    };
    const checkpointTimer = setInterval(() => {
      void saveState("running");
    }, 2000);
    checkpointTimer.unref();

    let deleted = 0;
    let deleteSkippedReason: string | undefined;
    let error: PgSearchError | undefined;
    const streamErrors: string[] = [];
    try {
      await saveState("running");
      emit("reading");
      const progressTimer = setInterval(() => {
        emit("reading");
      }, 500);
      progressTimer.unref();
      try {
        await runLimited(plan.streams, request.options.parallelTables, async (stream) => {
          const p = progress.get(stream.id) as StreamProgress;
          const checkpoint = resumed ? previous.streams[stream.id] : undefined;
          if (checkpoint?.done === true) {
            tracker.start(
              stream.id,
              checkpoint.after === null ? null : (JSON.parse(checkpoint.after) as (string | null)[]),
              checkpoint.rows,
            );
            tracker.finish(stream.id);
            p.state = "done";
            p.rowsRead = checkpoint.rows;
            return;
          }
          const after =
            checkpoint?.after == null ? undefined : (JSON.parse(checkpoint.after) as (string | null)[]);
          tracker.start(stream.id, after ?? null, checkpoint?.rows ?? 0);
          p.state = "reading";
          try {
            await this.readStream(stream, plan.server, snapshot, writer, tracker, request, {
              after,
              changedSince,
              skipUnchanged,
              index,
              fallbackTimestamp,
              progress: p,
              oversize,
              collisions,
            });
            tracker.finish(stream.id);
            p.state = "done";
          } catch (streamError) {
            if (streamError instanceof CanceledError || signal?.aborted === true) throw streamError;
            p.state = "failed";
            p.error = (streamError as Error).message;
            streamErrors.push(`${stream.id}: ${p.error}`);
            log.error({ table: stream.id, err: streamError }, `reading ${stream.id} failed`);
          }
        });
        await writer.flush();
      } finally {
        clearInterval(progressTimer);
      }

      // Deleting is only safe when every stream was read to the end.
      if (streamErrors.length > 0) {
        deleteSkippedReason = `not deleting stale documents: ${streamErrors.length} table(s) failed (${streamErrors.join("; ")})`;
        throw new SourceError(deleteSkippedReason, { code: "sync_partial" });
      }
      if (writer.stats.failed > 0) {
        warnings.push(`${writer.stats.failed} document(s) failed to index; see failures`);
      }
      emit("deleting");
      if (indexWasEmpty && !resumed) {
        // Everything in the index was written by this sync from this snapshot: nothing is stale.
        deleteSkippedReason = "the index was empty when the sync started: nothing to delete";
      } else {
        deleted = await this.deletePass(plan, snapshot, writer, index, request, (n) => {
          emit("deleting", n);
        });
      }
      await writer.flush();
      state.cursor = { snapshot_started_at: snapshotStartedAt, job_type: request.jobType };
      state.streams = {};
      state.last_result = {
        status: "completed",
        completed_at: new Date().toISOString(),
        bulk: writer.stats,
        deleted,
      };
      clearInterval(checkpointTimer);
      state.status = "completed";
      state.updated_at = new Date().toISOString();
      await this.deps.state.save(state);
    } catch (caught) {
      clearInterval(checkpointTimer);
      error = toPgSearchError(caught, signal);
      deleteSkippedReason ??= `not deleting stale documents: the sync did not finish (${error.message})`;
      // Wait for what is in flight so the checkpoint only counts acknowledged writes.
      await writer.flush().catch(() => undefined);
      await saveState(error instanceof CanceledError ? "interrupted" : "failed");
    } finally {
      clearInterval(checkpointTimer);
      await snapshot.close();
    }

    const indexCount = await index
      .refresh()
      .then(() => index.count())
      .catch(() => undefined);
    emit("done", deleted);
    const result: SyncResult = {
      status: error === undefined ? "completed" : error instanceof CanceledError ? "canceled" : "failed",
      jobType: request.jobType,
      indexName: request.indexName,
      startedAt,
      durationMs: Date.now() - startTime,
      resumed,
      streams: [...progress.values()],
      skipped: plan.skipped,
      bulk: { ...writer.stats },
      failures: writer.failures.map((f) => ({
        id: f.id,
        table: (f.tag as BatchTicket | undefined)?.stream,
        status: f.status,
        reason: f.reason,
      })),
      oversize,
      collisions,
      deleted,
      warnings,
      ...(deleteSkippedReason === undefined ? {} : { deleteSkippedReason }),
      ...(indexCount === undefined ? {} : { indexCount }),
      ...(error === undefined ? {} : { error }),
      ...(error === undefined && state.cursor !== undefined ? { cursor: state.cursor } : {}),
    };
    log.info(
      {
        status: result.status,
        created: result.bulk.created,
        updated: result.bulk.updated,
        deleted,
        unchanged: result.streams.reduce((n, s) => n + s.unchanged, 0),
        failed: result.bulk.failed,
        duration_ms: result.durationMs,
      },
      `sync ended with status ${result.status}`,
    );
    return result;
  }

  private async readStream(
    stream: SourceStream,
    server: ServerInfo,
    snapshot: SyncSnapshot,
    writer: BulkWriter<BatchTicket>,
    tracker: CheckpointTracker,
    request: SyncRequest,
    ctx: {
      after: (string | null)[] | undefined;
      changedSince: string | undefined;
      skipUnchanged: boolean;
      index: SearchIndex;
      fallbackTimestamp: string;
      progress: StreamProgress;
      oversize: OversizeDocument[];
      collisions: Collision[];
    },
  ): Promise<void> {
    const builder = new DocumentBuilder(stream, this.deps.source.config, ctx.fallbackTimestamp);
    const ids = new IdCollisionDetector(stream, this.deps.source.config.documentMode === "compat");
    const maxBytes = this.deps.source.config.maxDocumentBytes;
    const rules = request.basicRules;
    const p = ctx.progress;
    for await (const rows of this.deps.source.read(snapshot, stream, server, {
      batchRows: request.options.batchRows,
      after: ctx.after,
      changedSince: ctx.changedSince,
      signal: request.signal,
    })) {
      p.rowsRead += rows.length;
      tracker.addRows(stream.id, rows.length);
      const docs = [];
      for (const row of rows) {
        const doc = builder.build(row);
        const collision = ids.check(doc.id, row.key);
        if (collision !== undefined) {
          // The first row keeps the document; the second is reported, never silently merged.
          if (ctx.collisions.length < 1000) ctx.collisions.push(collision);
          this.deps.logger.warn({ table: stream.id, key: row.key, document_id: doc.id }, collision.message);
          continue;
        }
        if (doc.bytes > maxBytes) {
          p.oversize++;
          if (ctx.oversize.length < 1000)
            ctx.oversize.push({ stream: stream.id, key: row.key, id: doc.id, bytes: doc.bytes });
          this.deps.logger.warn(
            { table: stream.id, key: row.key, document_id: doc.id, bytes: doc.bytes },
            `document of ${stream.id} with key ${JSON.stringify(row.key)} is ${doc.bytes} bytes, over the ${maxBytes}-byte limit: not sent`,
          );
          continue;
        }
        // Rows the SQL filter let through still meet the rules it could not translate.
        if (
          stream.filter?.exact !== true &&
          !rules.isMatchAll &&
          !rules.shouldIndex(JSON.parse(doc.source) as Record<string, unknown>)
        ) {
          p.filtered++;
          continue;
        }
        docs.push(doc);
      }
      let toSend = docs;
      if (ctx.skipUnchanged && docs.length > 0) {
        const stored = await ctx.index.hashes(
          docs.map((d) => d.id),
          request.signal,
        );
        toSend = docs.filter((d) => stored.get(d.id) !== d.hash);
        p.unchanged += docs.length - toSend.length;
      }
      const last = rows[rows.length - 1];
      if (last === undefined) continue;
      const ticket = tracker.addBatch(stream.id, last.key, toSend.length);
      for (const doc of toSend) {
        await writer.add({ action: "index", id: doc.id, source: doc.source, tag: ticket });
        p.docsSent++;
      }
    }
  }

  /**
   * Finds documents whose row is gone (or no longer matches the rules) by asking PostgreSQL, in
   * the sync's snapshot, which keys of each page of the index still exist. Ids to delete go to a
   * temporary file, so memory stays flat at any index size; nothing is deleted until the whole
   * index was checked and the guard agreed.
   */
  private async deletePass(
    plan: SourcePlan,
    snapshot: SyncSnapshot,
    writer: BulkWriter<BatchTicket>,
    index: SearchIndex,
    request: SyncRequest,
    onDeleted: (n: number) => void,
  ): Promise<number> {
    const signal = request.signal;
    const { streams, server } = plan;
    const byId = new Map(streams.map((s) => [s.id, s]));
    // A table skipped this time (lost its primary key, lost a privilege) keeps its documents.
    const skipped = new Set(plan.skipped.map((s) => s.table));
    const builders = new Map(
      streams.map((s) => [s.id, new DocumentBuilder(s, this.deps.source.config, '""')]),
    );
    const dir = await mkdtemp(join(tmpdir(), "pgsearch-delete-"));
    const file = join(dir, "ids.ndjson");
    const out = createWriteStream(file);
    let stale = 0;
    let total = 0;
    const reader = await snapshot.reader(signal);
    try {
      for await (const page of index.scan({
        query: { match_all: {} },
        fields: [`${META_FIELD}.source`, `${META_FIELD}.key`],
        pageSize: 5000,
        signal,
      })) {
        total += page.length;
        const groups = new Map<string, { id: string; key: (string | null)[] }[]>();
        for (const hit of page) {
          const meta = {
            source: hit.fields[`${META_FIELD}.source`]?.[0] as string | undefined,
            key: parseKey(hit.fields[`${META_FIELD}.key`]?.[0]),
          };
          if (meta.source !== undefined && skipped.has(meta.source)) continue;
          const stream = meta.source === undefined ? undefined : byId.get(meta.source);
          if (
            stream === undefined ||
            meta.key === undefined ||
            meta.key.length !== stream.keyIndexes.length
          ) {
            // Not written by a current stream (a table no longer configured, another tool): stale.
            out.write(`${JSON.stringify(hit.id)}\n`);
            stale++;
            continue;
          }
          let group = groups.get(stream.id);
          if (group === undefined) groups.set(stream.id, (group = []));
          group.push({ id: hit.id, key: meta.key });
        }
        for (const [streamId, docs] of groups) {
          const stream = byId.get(streamId) as SourceStream;
          const builder = builders.get(streamId) as DocumentBuilder;
          const existing = await this.deps.source.existing(
            reader,
            stream,
            server,
            docs.map((d) => d.key),
            signal,
          );
          for (const doc of docs) {
            const row = existing.get(JSON.stringify(doc.key));
            const keep =
              row !== undefined &&
              builder.id(row.key) === doc.id &&
              (request.basicRules.isMatchAll ||
                request.basicRules.shouldIndex(
                  JSON.parse(builder.build(row).source) as Record<string, unknown>,
                ));
            if (!keep) {
              out.write(`${JSON.stringify(doc.id)}\n`);
              stale++;
            }
          }
        }
      }
    } finally {
      await snapshot.release(reader);
      await new Promise<void>((resolve) => out.end(resolve));
    }
    try {
      const maxPercent = request.options.maxDeletePercent;
      if (
        stale > 100 &&
        (stale / Math.max(total, 1)) * 100 > maxPercent &&
        request.allowMassDelete !== true
      ) {
        throw new DeleteGuardError(stale, total, maxPercent);
      }
      let deleted = 0;
      const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
      for await (const line of lines) {
        if (line === "") continue;
        await writer.add({ action: "delete", id: JSON.parse(line) as string });
        deleted++;
        if (deleted % 5000 === 0) onDeleted(deleted);
      }
      await writer.flush();
      return writer.stats.deleted;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function pushDownRules(stream: SourceStream, rules: BasicRuleEngine): PushedFilter | undefined {
  if (rules.isMatchAll) return undefined;
  const columns = stream.columns.map((column, i) => ({
    field: stream.fieldNames[i] ?? `\u0000unused${i}`,
    ref: columnRef(stream, i),
    typeName: column.typeName,
    typeKind: column.typeKind,
    isArray: column.isArray,
  }));
  return pushDownBasicRules(rules.rules, columns);
}

/** The `_pgsearch.key` doc value: JSON text of the key parts. */
function parseKey(value: unknown): (string | null)[] | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const key = JSON.parse(value) as unknown;
    return Array.isArray(key) ? (key as (string | null)[]) : undefined;
  } catch {
    return undefined;
  }
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

function streamOfTag(tag: BatchTicket | undefined): string | undefined {
  return tag?.stream;
}

function planFingerprint(streams: SourceStream[], request: SyncRequest): string {
  const hash = createHash("sha256");
  for (const s of streams) hash.update(JSON.stringify([s.id, s.fromSql, s.fieldNames, s.keyIndexes]));
  hash.update(JSON.stringify(request.advancedRules));
  return hash.digest("hex").slice(0, 32);
}

function toPgSearchError(error: unknown, signal: AbortSignal | undefined): PgSearchError {
  if (signal?.aborted === true && !(error instanceof DeleteGuardError)) {
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

export const newJobId = (): string => randomUUID();
