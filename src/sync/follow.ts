import type { Client } from "@elastic/elasticsearch";
import { LogicalReplicationService } from "pg-logical-replication";
import { VersionedPgoutputPlugin } from "../source/pgoutput.js";
import type { Pgoutput } from "pg-logical-replication";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { SyncOptions } from "../config/app-config.js";
import { CanceledError, FollowDocumentError, SourceError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import { BulkWriter, type BulkItem, type ItemFailure } from "../sink/bulk-writer.js";
import { clientConfig, connectionFactory, type PgClient } from "../source/connection.js";
import type { SourcePlan, SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import { dropSlot, ensureSlot, slotRetainedWal, type SlotNames } from "../source/replication-slot.js";
import { ChangeBuffer, relationOf, type ChangeBatch, type PendingChange } from "./change-buffer.js";
import { applyBatch, timedWriter, type ApplyCounts, type BatchTimings } from "./follow-apply.js";
import { asFollowError } from "./follow-errors.js";
import { startupStep } from "./startup-step.js";
import { recordFailures } from "./failures-index.js";
import { CollisionGuard } from "./id-owners.js";

export { dropSlot, slotRetainedWal };
export type { BatchTimings };
export { followRetryDelayMs } from "./follow-errors.js";

/** What follow does with a change Elasticsearch refuses (`follow.on_document_error`). */
export type OnDocumentError = "stop" | "record";

export interface FollowOptions {
  indexName: string;
  /** Replication slot and publication name (letters, digits, underscores). */
  slotName: string;
  /** Publication to use; created for the plan's tables when absent and `createPublication`. */
  publication: string;
  basicRules: BasicRuleEngine;
  sync: SyncOptions;
  signal: AbortSignal;
  /**
   * A refused change is retried (`documentRetryDelaysMs`, default 1, 2, 4, 8 s), then "stop"
   * (default) ends following with FollowDocumentError, the slot left before the change so a
   * restart applies it; "record" writes it to the failures index and goes on.
   */
  onDocumentError?: OnDocumentError;
  documentRetryDelaysMs?: number[];
  /**
   * Changes are applied when this many keys are pending, or `maxDelayMs` after the oldest
   * arrived (defaults 10,000 and 50 ms). While a batch is applied the next one is collected;
   * the stream waits only when that one is full too.
   */
  maxBatchKeys?: number;
  maxDelayMs?: number;
  /** Called after each applied batch: lag and counts, for logs, metrics and tests. */
  onApplied?: (info: AppliedBatch) => void;
  /** Warn when the slot retains more WAL than this (bytes; default 1 GiB). */
  maxRetainedBytes?: number;
  /** How often the slot's lag and the tables' existence are checked (ms; default 30 s). */
  healthCheckMs?: number;
  /** Called after each health check with the slot's retained WAL and lag. */
  onHealth?: (info: SlotHealth) => void;
}

export interface SlotHealth {
  retainedBytes: number;
  /** Seconds since the last applied commit (0 when nothing is pending). */
  lagSeconds: number;
}

export interface AppliedBatch {
  keys: number;
  indexed: number;
  deleted: number;
  truncated: string[];
  /** Latest commit time in the batch (ms since epoch), to measure commit → searchable lag. */
  lastCommitTime: number | undefined;
  appliedAt: number;
  lsn: string;
  /** Changes Elasticsearch refused that were written to the failures index ("record"). */
  recorded: number;
  /** Where the batch's time went (ms), to tell which wait dominates the lag. */
  timings: BatchTimings;
}

const DEFAULT_MAX_BATCH_KEYS = 10_000;
const DEFAULT_MAX_DELAY_MS = 50;

export const DOCUMENT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];

/**
 * Continuous change capture: a persistent logical replication slot (pgoutput) streams every
 * committed change of the plan's tables into a change buffer; batches of whole transactions are
 * applied (follow-apply) and the slot position is confirmed to PostgreSQL only after
 * Elasticsearch accepted every write up to it: a crash or a refused change replays changes, it
 * never loses them (docs/operations.md, "Guarantees").
 */
export class ChangeFollower {
  private readonly buffer: ChangeBuffer;
  /** Applies batches one after another while `wanted`; undefined when idle. */
  private worker: Promise<void> | undefined;
  private wanted = false;
  /** The batch being applied: a full buffer waits for it (flow control). */
  private current: Promise<void> | undefined;
  /** Set when a batch failed: no later batch is applied or confirmed (it would skip the failed one). */
  private broken: Error | undefined;
  /** The long-lived connection batches are re-read on; reopened when lost. */
  private reader: Promise<PgClient> | undefined;
  /** Batches taken from the buffer and not yet confirmed. */
  private applying = 0;
  /** Messages collected so far: a keepalive is confirmed only when none arrived since the last one. */
  private collected = 0;
  private keepalive: { lsn: string; collected: number } | undefined;
  private lastAppliedCommitTime: number | undefined;

  constructor(
    private readonly source: PostgresSource,
    private readonly client: Client,
    private readonly plan: SourcePlan,
    private readonly logger: Logger,
  ) {
    this.buffer = new ChangeBuffer(plan);
    this.guard = new CollisionGuard(plan.streams, source.config);
  }
  /** Which changed rows can share a document id with another row (checked before writing). */
  private readonly guard: CollisionGuard;

  /** Creates the publication and the slot when missing. Call before the initial full sync. */
  ensureSlot(names: SlotNames, admin: PgClient): Promise<"created" | "exists"> {
    return ensureSlot(this.plan, names, admin);
  }

  /** Streams changes until the signal aborts or a change cannot be applied. */
  async run(options: FollowOptions): Promise<void> {
    const { signal } = options;
    const service = new LogicalReplicationService(
      { ...clientConfig(this.source.config), types: undefined },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    let failure: unknown;
    const fail = (error: unknown): void => {
      failure ??= error;
    };
    service.on("error", fail);
    service.on("start", () => {
      startupStep(this.logger, "replication started");
    });
    // Every handler routes its errors to `fail`: nothing escapes as an unhandled rejection.
    service.on("data", async (lsn: string, message: Pgoutput.Message) => {
      try {
        await this.onMessage(service, lsn, message, options, () => failure !== undefined);
      } catch (error) {
        fail(error);
      }
    });
    // Every keepalive, not only those asking for a reply: PostgreSQL sends one whenever it has sent
    // everything and waits, so an idle follower's position keeps up with WAL it has nothing to send
    // for (other tables, VACUUM): a restart then does not decode that WAL again before streaming.
    service.on("heartbeat", async (lsn: string) => {
      try {
        if (failure === undefined) await this.onKeepalive(service, lsn);
      } catch (error) {
        fail(error);
      }
    });
    const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    const timer = setInterval(
      () => {
        const first = this.buffer.firstPendingAt;
        if (failure === undefined && first !== undefined && Date.now() - first >= maxDelayMs)
          this.requestApply(service, options).catch(fail);
      },
      Math.min(50, Math.max(10, maxDelayMs / 2)),
    );
    const health = setInterval(() => {
      this.checkHealth(options).catch(fail);
    }, options.healthCheckMs ?? 30_000);
    // Connected while the stream starts, not when the first batch is due.
    this.readerConnection(signal).catch(() => undefined);
    const plugin = new VersionedPgoutputPlugin([options.publication]);
    const subscription = service.subscribe(plugin, options.slotName).catch(fail);
    try {
      while (!signal.aborted && failure === undefined && this.broken === undefined)
        await sleep(100, undefined, { signal }).catch(() => undefined);
      await this.worker?.catch(fail);
      if (this.broken !== undefined) fail(this.broken);
    } finally {
      clearInterval(timer);
      clearInterval(health);
      await service.stop().catch(() => undefined);
      await subscription;
      await this.reader?.then((client) => client.end()).catch(() => undefined);
    }
    if (failure !== undefined && !signal.aborted) throw asFollowError(failure, options.slotName);
  }

  private async onMessage(
    service: LogicalReplicationService,
    lsn: string,
    message: Pgoutput.Message,
    options: FollowOptions,
    failed: () => boolean,
  ): Promise<void> {
    this.collected++;
    this.buffer.collect(lsn, message);
    if (failed()) return;
    if (message.tag === "commit" && this.buffer.isEmpty() && this.applying === 0) {
      // A transaction of nothing we follow, with everything before it applied: confirm it, so
      // an idle index does not make PostgreSQL retain the WAL of a busy database.
      await service.acknowledge(message.commitEndLsn ?? lsn);
    } else if (
      this.buffer.keyCount >= (options.maxBatchKeys ?? DEFAULT_MAX_BATCH_KEYS) &&
      message.tag === "commit"
    ) {
      // A full buffer behind a batch being applied holds the stream until that batch is done and
      // the buffer taken (flow control): memory stays bounded, collection and apply still overlap.
      const running = this.current;
      // A failed batch is reported by run() (through `broken`), not by this handler.
      this.requestApply(service, options).catch(() => undefined);
      await running;
    }
  }

  /**
   * Keepalives carry the server's WAL end. It is confirmed only when nothing is pending or being
   * applied and no message arrived since the previous keepalive (a message queued behind the
   * keepalive in the same network read would otherwise be confirmed before it was applied).
   */
  private async onKeepalive(service: LogicalReplicationService, lsn: string): Promise<void> {
    const idle = this.buffer.isEmpty() && this.applying === 0;
    const previous = this.keepalive;
    this.keepalive = { lsn, collected: this.collected };
    if (idle && previous !== undefined && previous.collected === this.collected) {
      await service.acknowledge(previous.lsn);
    }
  }

  /**
   * Asks for the buffer to be applied: at once when no batch is being applied, else as soon as
   * the running one is confirmed (the buffer is taken then, with everything collected meanwhile).
   * One batch at a time, so a key's changes reach the index in commit order, and each position
   * is confirmed only after every batch before it.
   */
  private requestApply(service: LogicalReplicationService, options: FollowOptions): Promise<void> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    this.wanted = true;
    this.worker ??= this.applyWanted(service, options).finally(() => {
      this.worker = undefined;
    });
    return this.worker;
  }

  private async applyWanted(service: LogicalReplicationService, options: FollowOptions): Promise<void> {
    while (this.wanted && this.broken === undefined) {
      this.wanted = false;
      const batch = this.buffer.take();
      if (batch === undefined) continue;
      this.applying++;
      this.current = this.applyAndConfirm(service, batch, options);
      try {
        await this.current;
      } catch (error) {
        this.broken = error as Error;
        throw error;
      } finally {
        this.current = undefined;
        this.applying--;
      }
    }
  }

  private async applyAndConfirm(
    service: LogicalReplicationService,
    batch: ChangeBatch,
    options: FollowOptions,
  ): Promise<void> {
    const takenAt = Date.now();
    if (this.buffer.changedRelations.size > 0) await this.replan(batch.changes);
    const { counts, recorded, timings } = await this.applyWithRetry(batch, options);
    const confirming = performance.now();
    // Elasticsearch has every change up to here (or the failures index has it): PostgreSQL may forget them.
    await service.acknowledge(batch.lsn);
    timings.ackMs = performance.now() - confirming;
    timings.bufferMs = takenAt - (batch.firstCollectedAt ?? takenAt);
    timings.streamMs = Math.max(0, (batch.firstCollectedAt ?? 0) - (batch.firstCommitTime ?? Infinity));
    this.lastAppliedCommitTime = batch.commitTime;
    const applied: AppliedBatch = {
      keys: batch.changes.length + batch.parts.length,
      indexed: counts.indexed,
      deleted: counts.deleted,
      truncated: batch.truncates,
      lastCommitTime: batch.commitTime,
      appliedAt: Date.now(),
      lsn: batch.lsn,
      recorded,
      timings,
    };
    this.logger.debug(
      { keys: applied.keys, lsn: batch.lsn, timings, since_start_ms: Math.round(performance.now()) },
      "batch applied",
    );
    options.onApplied?.(applied);
  }

  /** The long-lived re-read connection (opened while the stream starts), opened again when lost. */
  private readerConnection(signal: AbortSignal): Promise<PgClient> {
    if (this.reader !== undefined) return this.reader;
    const opening = this.source.connect(signal).then((client) => {
      const lost = (): void => {
        if (this.reader === opening) this.reader = undefined;
      };
      client.on("end", lost);
      client.on("error", lost);
      return client;
    });
    this.reader = opening;
    opening.catch(() => {
      if (this.reader === opening) this.reader = undefined;
    });
    return opening;
  }

  /**
   * Applies a batch; when Elasticsearch refuses items (a write block, a mapping conflict) the
   * whole batch is applied again after 1, 2, 4, 8 s (re-reading the rows: writes are idempotent),
   * then the follower stops without confirming, or records the refused changes and goes on.
   */
  private async applyWithRetry(
    batch: ChangeBatch,
    options: FollowOptions,
  ): Promise<{ counts: ApplyCounts; recorded: number; timings: BatchTimings }> {
    const delays = options.documentRetryDelaysMs ?? DOCUMENT_RETRY_DELAYS_MS;
    const timings: BatchTimings = {
      streamMs: 0,
      bufferMs: 0,
      connectMs: 0,
      rereadMs: 0,
      writeMs: 0,
      ackMs: 0,
    };
    for (let attempt = 0; ; attempt++) {
      const refused: { item: BulkItem; failure: ItemFailure }[] = [];
      const waited = { ms: 0 };
      const writer = timedWriter(this.writer(options, refused), waited);
      const connecting = performance.now();
      const client = await this.readerConnection(options.signal);
      const applying = performance.now();
      timings.connectMs += applying - connecting;
      const counts = await applyBatch(this.applyContext(options), batch, client, writer);
      timings.writeMs += waited.ms;
      timings.rereadMs += performance.now() - applying - waited.ms;
      const first = refused[0];
      if (first === undefined) return { counts, recorded: 0, timings };
      const delay = delays[attempt];
      if (delay !== undefined) {
        this.logger.warn(
          {
            document_id: first.failure.id,
            status: first.failure.status,
            refused: refused.length,
            attempt: attempt + 1,
          },
          `Elasticsearch refused ${refused.length} change(s) (${first.failure.reason}); retrying in ${delay / 1000} s`,
        );
        await sleep(delay, undefined, { signal: options.signal });
        continue;
      }
      if (options.onDocumentError !== "record")
        throw new FollowDocumentError(first.failure, refused.length, batch.lsn);
      await recordFailures(this.client, options.indexName, batch.lsn, refused, options.signal);
      this.logger.error(
        { document_id: first.failure.id, refused: refused.length },
        `${refused.length} refused change(s) written to the failures index (follow.on_document_error: record)`,
      );
      return { counts, recorded: refused.length, timings };
    }
  }

  private writer(options: FollowOptions, refused: { item: BulkItem; failure: ItemFailure }[]): BulkWriter {
    return new BulkWriter({
      client: this.client,
      index: options.indexName,
      pipeline: options.sync.pipeline ?? undefined,
      maxBytes: options.sync.bulkMaxBytes,
      maxDocs: options.sync.bulkMaxDocs,
      concurrency: options.sync.bulkConcurrency,
      // Refused items are retried and reported per batch below, not counted against a budget.
      errorBudget: { maxConsecutive: Infinity, maxTotal: Infinity, maxRate: 2, window: 100 },
      signal: options.signal,
      onItem: (item, _outcome, failure) => {
        if (failure !== undefined) refused.push({ item, failure });
      },
    });
  }

  private applyContext(options: FollowOptions): Parameters<typeof applyBatch>[0] {
    return {
      source: this.source,
      client: this.client,
      plan: this.plan,
      indexName: options.indexName,
      rules: options.basicRules,
      batchRows: options.sync.batchRows,
      logger: this.logger,
      signal: options.signal,
      guard: this.guard,
    };
  }

  /**
   * A table's columns changed: plan it again so new columns reach the documents without a
   * restart. A dropped table or a changed primary key cannot be followed: say so and stop.
   */
  private async replan(changes: PendingChange[]): Promise<void> {
    const plan = await this.source.plan([]);
    for (const relation of this.buffer.changedRelations) {
      const old = this.buffer.streamOf(relation);
      if (old === undefined) continue;
      const fresh = plan.streams.find((s) => s.id === old.id);
      if (fresh === undefined) {
        throw new SourceError(
          "the table was dropped, lost its primary key or is no longer readable; stopping",
          {
            table: old.id,
            code: "follow_table_gone",
          },
        );
      }
      const keyOf = (s: SourceStream): string => s.keyIndexes.map((i) => s.columns[i]?.name).join(", ");
      if (keyOf(fresh) !== keyOf(old)) {
        throw new SourceError(
          `the primary key changed from (${keyOf(old)}) to (${keyOf(fresh)}); run a full sync, then follow again`,
          { table: old.id, code: "follow_key_changed" },
        );
      }
      fresh.filter = old.filter;
      this.buffer.replaceStream(relationOf(fresh), fresh);
      for (const change of changes) if (change.stream.id === fresh.id) change.stream = fresh;
      this.logger.info(
        { table: fresh.id, columns: fresh.columns.map((c) => c.name) },
        "table changed; following its new columns",
      );
    }
    this.buffer.changedRelations.clear();
  }

  /** Slot lag (warned above the limit) and the followed tables' existence. */
  private async checkHealth(options: FollowOptions): Promise<void> {
    const admin = await connectionFactory(this.source.config).connect(options.signal);
    try {
      const wal = await slotRetainedWal(admin, options.slotName);
      if (wal !== undefined) {
        const lagSeconds =
          this.buffer.isEmpty() || this.lastAppliedCommitTime === undefined
            ? 0
            : (Date.now() - this.lastAppliedCommitTime) / 1000;
        options.onHealth?.({ retainedBytes: wal.retainedBytes, lagSeconds });
        const limit = options.maxRetainedBytes ?? 1024 ** 3;
        if (wal.retainedBytes > limit) {
          this.logger.warn(
            { slot: options.slotName, retained_bytes: wal.retainedBytes, limit },
            `replication slot ${options.slotName} retains ${wal.retainedBytes} bytes of WAL (limit ${limit}); PostgreSQL keeps it until the slot catches up or is dropped (pgsearch slot drop)`,
          );
        }
      }
      for (const stream of this.buffer.tableStreams()) {
        const exists = await admin.query<{ oid: string | null }>("SELECT to_regclass($1)::text AS oid", [
          stream.fromSql,
        ]);
        if (exists.rows[0]?.oid == null) {
          throw new SourceError("the table was dropped; it can no longer be followed", {
            table: stream.id,
            code: "follow_table_gone",
          });
        }
      }
    } finally {
      await admin.end();
    }
  }
}

export { CanceledError };
