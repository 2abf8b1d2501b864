import { LogicalReplicationService, PgoutputPlugin } from "pg-logical-replication";
import type { Pgoutput } from "pg-logical-replication";
import { setTimeout as sleep } from "node:timers/promises";
import { CanceledError, PgSearchError, SourceError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import { BulkWriter } from "../sink/bulk-writer.js";
import { clientConfig, connectionFactory, isConnectionLost, type PgClient } from "../source/connection.js";
import type { SourcePlan, SourceStream, StreamPart } from "../source/plan.js";
import { partTerm } from "../source/reader.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import { quoteIdent, quoteLiteral } from "../source/sql.js";
import type { SyncOptions } from "../config/app-config.js";
import type { Client } from "@elastic/elasticsearch";
import { SearchIndex } from "../sink/search-index.js";
import { DocumentBuilder, META_FIELD } from "./document.js";

export interface FollowOptions {
  indexName: string;
  /** Replication slot and publication name (letters, digits, underscores). */
  slotName: string;
  /** Publication to use; created for the plan's tables when absent and `createPublication`. */
  publication: string;
  basicRules: BasicRuleEngine;
  sync: SyncOptions;
  signal: AbortSignal;
  /** Changes are applied when this many keys are pending, or after `maxDelayMs`. */
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
}

interface PendingPart {
  stream: SourceStream;
  part: StreamPart;
  key: (string | null)[];
}

interface PendingChange {
  stream: SourceStream;
  readonly key: (string | null)[];
}

/**
 * Continuous change capture: a persistent logical replication slot (pgoutput) streams every
 * committed change of the plan's tables. For each batch the changed keys are re-read from
 * PostgreSQL with the same rendering as a full sync (so types match, TOAST-unchanged columns are
 * never blanked, rules apply) and indexed, or deleted when the row is gone or no longer matches.
 * The slot position is acknowledged only after Elasticsearch confirmed the writes: a crash
 * replays changes, it never loses them.
 */
export class ChangeFollower {
  private readonly byRelation = new Map<string, SourceStream>();
  /** Advanced-rule streams that read a relation, with where that table's key sits in the result. */
  private readonly partsByRelation = new Map<string, { stream: SourceStream; part: StreamPart }[]>();
  private pending = new Map<string, PendingChange>();
  /** Changed keys of tables read by advanced rules: the rule is re-evaluated for them. */
  private pendingParts = new Map<string, PendingPart>();
  private pendingTruncates = new Set<string>();
  /** Advanced-rule streams to read again whole (a table they read was truncated). */
  private pendingRereads = new Set<string>();
  private lastCommitLsn: string | undefined;
  private lastCommitTime: number | undefined;
  private firstPendingAt: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Relations whose columns changed (ALTER TABLE): their streams are planned again before use. */
  private readonly changedRelations = new Set<string>();
  private readonly knownColumns = new Map<string, string>();
  private lastAppliedCommitTime: number | undefined;

  constructor(
    private readonly source: PostgresSource,
    private readonly client: Client,
    private readonly plan: SourcePlan,
    private readonly logger: Logger,
  ) {
    for (const stream of plan.streams) {
      if (stream.kind === "table") byRelationKey(this.byRelation, stream);
      for (const part of stream.parts ?? []) {
        const list = this.partsByRelation.get(part.relation) ?? [];
        list.push({ stream, part });
        this.partsByRelation.set(part.relation, list);
      }
    }
  }

  /** Creates the publication and the slot when missing. Call before the initial full sync. */
  async ensureSlot(
    options: Pick<FollowOptions, "slotName" | "publication">,
    admin: PgClient,
  ): Promise<"created" | "exists"> {
    const tables = [
      ...new Set([
        ...this.plan.streams.filter((s) => s.kind === "table").map((s) => s.fromSql),
        ...this.plan.streams.flatMap((s) => (s.parts ?? []).map((p) => p.tableSql)),
      ]),
    ];
    if (tables.length === 0) {
      throw new SourceError(
        "nothing to follow: no table, and no advanced rule whose tables' primary keys are in its result",
      );
    }
    const publication = await admin.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [
      options.publication,
    ]);
    if (publication.rowCount === 0) {
      // publish_via_partition_root: changes of partitions arrive as their parent (PostgreSQL 13+).
      const viaRoot =
        this.plan.server.versionNum >= 130000 ? " WITH (publish_via_partition_root = true)" : "";
      await admin.query(
        `CREATE PUBLICATION ${quoteIdent(options.publication)} FOR TABLE ${tables.join(", ")}${viaRoot}`,
      );
    }
    const slot = await admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [
      options.slotName,
    ]);
    if (slot.rowCount === 0) {
      await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [options.slotName]);
      return "created";
    }
    return "exists";
  }

  /** Streams changes until the signal aborts. */
  async run(options: FollowOptions): Promise<void> {
    const { signal } = options;
    const service = new LogicalReplicationService(
      { ...clientConfig(this.source.config), types: undefined },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    let failure: unknown;
    service.on("error", (error: Error) => {
      failure ??= error;
    });
    service.on("data", async (lsn: string, message: Pgoutput.Message) => {
      this.collect(lsn, message);
      if (this.shouldApply(options)) await this.enqueueApply(service, options);
    });
    service.on("heartbeat", async (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      // Idle stream: nothing pending means everything up to here is applied.
      if (
        shouldRespond &&
        this.pending.size === 0 &&
        this.pendingParts.size === 0 &&
        this.pendingTruncates.size === 0
      )
        await service.acknowledge(lsn);
    });
    const timer = setInterval(() => {
      if (
        this.firstPendingAt !== undefined &&
        Date.now() - this.firstPendingAt >= (options.maxDelayMs ?? 200)
      ) {
        void this.enqueueApply(service, options).catch((error: unknown) => {
          failure ??= error;
        });
      }
    }, 50);
    const health = setInterval(() => {
      this.checkHealth(options).catch((error: unknown) => {
        failure ??= error;
      });
    }, options.healthCheckMs ?? 30_000);
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication] });
    const subscription = service.subscribe(plugin, options.slotName).catch((error: unknown) => {
      failure ??= error;
    });
    try {
      while (!signal.aborted && failure === undefined)
        await sleep(100, undefined, { signal }).catch(() => undefined);
      await this.chain;
    } finally {
      clearInterval(timer);
      clearInterval(health);
      await service.stop().catch(() => undefined);
      await subscription;
    }
    if (failure !== undefined && !signal.aborted) {
      throw failure instanceof SourceError
        ? failure
        : failure instanceof PgSearchError
          ? failure
          : new SourceError(`replication stream failed: ${(failure as Error).message}`, {
              cause: failure,
              retryable: isConnectionLost(failure),
            });
    }
  }

  private collect(lsn: string, message: Pgoutput.Message): void {
    switch (message.tag) {
      case "insert":
      case "update":
      case "delete": {
        const relation = `${message.relation.schema}.${message.relation.name}`;
        const tuples = message.tag === "delete" ? [message.key ?? message.old] : [message.new];
        // An update that changed the primary key also carries the old key: its document goes.
        if (message.tag === "update" && message.key !== null) tuples.push(message.key);
        for (const tuple of tuples) {
          if (tuple === null) continue;
          const stream = this.byRelation.get(relation);
          if (stream !== undefined) {
            const key = stream.keyIndexes.map((i) => keyText(tuple[stream.columns[i]?.name ?? ""]));
            this.pending.set(`${stream.id}\u0000${JSON.stringify(key)}`, { stream, key });
          }
          for (const { stream: queryStream, part } of this.partsByRelation.get(relation) ?? []) {
            const key = part.columnIndexes.map((i) => keyText(tuple[queryStream.columns[i]?.name ?? ""]));
            this.pendingParts.set(`${queryStream.id}\u0000${relation}\u0000${JSON.stringify(key)}`, {
              stream: queryStream,
              part,
              key,
            });
          }
        }
        this.firstPendingAt ??= Date.now();
        return;
      }
      case "truncate":
        for (const relation of message.relations) {
          const stream = this.byRelation.get(`${relation.schema}.${relation.name}`);
          if (stream !== undefined) this.pendingTruncates.add(stream.id);
          // A rule reading the table may lose (or, with NOT EXISTS, gain) any of its rows.
          for (const { stream: queryStream } of this.partsByRelation.get(
            `${relation.schema}.${relation.name}`,
          ) ?? [])
            this.pendingRereads.add(queryStream.id);
        }
        this.firstPendingAt ??= Date.now();
        return;
      case "relation": {
        // Sent before the first change of a relation and after every ALTER TABLE.
        const key = `${message.schema}.${message.name}`;
        const columns = message.columns.map((c) => c.name).join("\u0000");
        const known = this.knownColumns.get(key);
        if (known !== undefined && known !== columns) this.changedRelations.add(key);
        this.knownColumns.set(key, columns);
        return;
      }
      case "commit":
        this.lastCommitLsn = message.commitEndLsn ?? lsn;
        this.lastCommitTime = Number(message.commitTime) / 1000;
        return;
      default:
        return;
    }
  }

  private shouldApply(options: FollowOptions): boolean {
    return this.pending.size >= (options.maxBatchKeys ?? 2000) && this.lastCommitLsn !== undefined;
  }

  /** Batches are applied one after another, so a key's changes reach the index in commit order. */
  private enqueueApply(service: LogicalReplicationService, options: FollowOptions): Promise<void> {
    this.chain = this.chain.then(() => this.apply(service, options));
    return this.chain;
  }

  private async apply(service: LogicalReplicationService, options: FollowOptions): Promise<void> {
    const lsn = this.lastCommitLsn;
    if (
      lsn === undefined ||
      (this.pending.size === 0 &&
        this.pendingParts.size === 0 &&
        this.pendingTruncates.size === 0 &&
        this.pendingRereads.size === 0)
    )
      return;
    // Only whole transactions are applied: changes after the last commit stay pending.
    const changes = [...this.pending.values()];
    const partChanges = [...this.pendingParts.values()];
    this.pendingParts = new Map();
    const truncates = [...this.pendingTruncates];
    const rereads = this.plan.streams.filter((s) => this.pendingRereads.has(s.id));
    this.pendingRereads = new Set();
    const commitTime = this.lastCommitTime;
    this.pending = new Map();
    this.pendingTruncates = new Set();
    this.firstPendingAt = undefined;
    const writer = new BulkWriter({
      client: this.client,
      index: options.indexName,
      pipeline: options.sync.pipeline ?? undefined,
      maxBytes: options.sync.bulkMaxBytes,
      maxDocs: options.sync.bulkMaxDocs,
      concurrency: options.sync.bulkConcurrency,
      signal: options.signal,
    });
    let indexed = 0;
    let deleted = 0;
    if (this.changedRelations.size > 0) await this.replan(changes);
    const reader = await this.source.openSnapshot(options.signal);
    const client = await reader.reader(options.signal);
    try {
      for (const streamId of truncates)
        deleted += await this.deleteAll(streamId, options.indexName, writer, options.signal);
      for (const stream of rereads) {
        const counts = await this.reread(stream, reader, client, writer, options);
        indexed += counts.indexed;
        deleted += counts.deleted;
      }
      const byStream = new Map<SourceStream, (string | null)[][]>();
      for (const change of changes) {
        if (truncates.includes(change.stream.id)) continue;
        const keys = byStream.get(change.stream) ?? [];
        keys.push(change.key);
        byStream.set(change.stream, keys);
      }
      for (const [stream, keys] of byStream) {
        const builder = new DocumentBuilder(
          stream,
          this.source.config,
          JSON.stringify(new Date().toISOString()),
        );
        for (let i = 0; i < keys.length; i += 1000) {
          const slice = keys.slice(i, i + 1000);
          const rows = await this.source.existing(client, stream, this.plan.server, slice, options.signal);
          for (const key of slice) {
            const row = rows.get(JSON.stringify(key));
            const doc = row === undefined ? undefined : builder.build(row);
            const keep =
              doc !== undefined &&
              doc.bytes <= this.source.config.maxDocumentBytes &&
              (options.basicRules.isMatchAll ||
                options.basicRules.shouldIndex(JSON.parse(doc.source) as Record<string, unknown>));
            if (keep) {
              await writer.add({ action: "index", id: doc.id, source: doc.source });
              indexed++;
            } else {
              await writer.add({ action: "delete", id: builder.id(key) });
              deleted++;
            }
          }
        }
      }
      const applied = await this.applyParts(partChanges, client, writer, options);
      indexed += applied.indexed;
      deleted += applied.deleted;
      await writer.flush();
    } finally {
      await reader.release(client);
      await reader.close();
    }
    if (writer.stats.failed > 0) {
      this.logger.error(
        { failures: writer.failures.slice(0, 5) },
        `${writer.stats.failed} change(s) failed to apply`,
      );
    }
    // Elasticsearch has the changes: now PostgreSQL may forget them.
    await service.acknowledge(lsn);
    this.lastAppliedCommitTime = commitTime;
    options.onApplied?.({
      keys: changes.length + partChanges.length,
      indexed,
      deleted,
      truncated: truncates,
      lastCommitTime: commitTime,
      appliedAt: Date.now(),
      lsn,
    });
  }

  /**
   * Re-evaluates advanced rules for the changed keys of their tables: the rule's rows with those
   * keys are indexed; documents that had them and are no longer in the rule's result go.
   */
  private async applyParts(
    changes: PendingPart[],
    client: PgClient,
    writer: BulkWriter,
    options: FollowOptions,
  ): Promise<{ indexed: number; deleted: number }> {
    let indexed = 0;
    let deleted = 0;
    const groups = new Map<string, PendingPart[]>();
    for (const change of changes) {
      const key = `${change.stream.id}\u0000${change.part.relation}`;
      groups.set(key, [...(groups.get(key) ?? []), change]);
    }
    for (const group of groups.values()) {
      const { stream, part } = group[0] as PendingPart;
      const builder = new DocumentBuilder(
        stream,
        this.source.config,
        JSON.stringify(new Date().toISOString()),
      );
      const keys = group.map((g) => g.key);
      const rows = await this.source.rowsByPart(
        client,
        stream,
        this.plan.server,
        part.columnIndexes,
        keys,
        options.signal,
      );
      const kept = new Set<string>();
      for (const row of rows) {
        const doc = builder.build(row);
        if (doc.bytes > this.source.config.maxDocumentBytes) continue;
        if (
          !options.basicRules.isMatchAll &&
          !options.basicRules.shouldIndex(JSON.parse(doc.source) as Record<string, unknown>)
        )
          continue;
        kept.add(doc.id);
        await writer.add({ action: "index", id: doc.id, source: doc.source });
        indexed++;
      }
      // Documents that came from these keys before: gone unless the rule still yields them.
      // (A refresh first, so documents written by the previous batch are seen.)
      const index = new SearchIndex(this.client, options.indexName);
      await index.refresh(options.signal);
      for await (const page of index.scan({
        query: {
          bool: {
            filter: [
              { term: { [`${META_FIELD}.source`]: stream.id } },
              { terms: { [`${META_FIELD}.parts`]: keys.map((k) => partTerm(part.relation, k)) } },
            ],
          },
        },
        fields: [],
        pageSize: 5000,
        signal: options.signal,
      })) {
        for (const hit of page) {
          if (kept.has(hit.id)) continue;
          await writer.add({ action: "delete", id: hit.id });
          deleted++;
        }
      }
    }
    return { indexed, deleted };
  }

  /**
   * A table's columns changed: plan it again so new columns reach the documents without a
   * restart. A dropped table or a changed primary key cannot be followed: say so and stop.
   */
  private async replan(changes: PendingChange[]): Promise<void> {
    const plan = await this.source.plan([]);
    for (const relation of this.changedRelations) {
      const old = this.byRelation.get(relation);
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
          {
            table: old.id,
            code: "follow_key_changed",
          },
        );
      }
      fresh.filter = old.filter;
      this.byRelation.set(relation, fresh);
      for (const change of changes) if (change.stream.id === fresh.id) change.stream = fresh;
      this.logger.info(
        { table: fresh.id, columns: fresh.columns.map((c) => c.name) },
        "table changed; following its new columns",
      );
    }
    this.changedRelations.clear();
  }

  /** Slot lag (warned above the limit) and the followed tables' existence. */
  private async checkHealth(options: FollowOptions): Promise<void> {
    const admin = await connectionFactory(this.source.config).connect(options.signal);
    try {
      const lag = await slotLag(admin, options.slotName);
      if (lag !== undefined) {
        const lagSeconds =
          this.pending.size === 0 || this.lastAppliedCommitTime === undefined
            ? 0
            : (Date.now() - this.lastAppliedCommitTime) / 1000;
        options.onHealth?.({ retainedBytes: lag.retainedBytes, lagSeconds });
        const limit = options.maxRetainedBytes ?? 1024 ** 3;
        if (lag.retainedBytes > limit) {
          this.logger.warn(
            { slot: options.slotName, retained_bytes: lag.retainedBytes, limit },
            `replication slot ${options.slotName} retains ${lag.retainedBytes} bytes of WAL (limit ${limit}); PostgreSQL keeps it until the slot catches up or is dropped (pgsearch slot drop)`,
          );
        }
      }
      for (const stream of this.byRelation.values()) {
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

  /**
   * After a TRUNCATE of a table an advanced rule reads: the rule's whole result is indexed
   * again, and its documents whose keys the rule no longer yields go (checked a page of keys at
   * a time, so memory stays bounded whatever the rule's size).
   */
  private async reread(
    stream: SourceStream,
    snapshot: SyncSnapshot,
    client: PgClient,
    writer: BulkWriter,
    options: FollowOptions,
  ): Promise<{ indexed: number; deleted: number }> {
    const builder = new DocumentBuilder(stream, this.source.config, JSON.stringify(new Date().toISOString()));
    let indexed = 0;
    let deleted = 0;
    for await (const batch of this.source.read(snapshot, stream, this.plan.server, {
      batchRows: options.sync.batchRows,
      signal: options.signal,
    })) {
      for (const row of batch) {
        const doc = builder.build(row);
        if (
          doc.bytes <= this.source.config.maxDocumentBytes &&
          (options.basicRules.isMatchAll ||
            options.basicRules.shouldIndex(JSON.parse(doc.source) as Record<string, unknown>))
        ) {
          await writer.add({ action: "index", id: doc.id, source: doc.source });
          indexed++;
        } else {
          await writer.add({ action: "delete", id: doc.id });
          deleted++;
        }
      }
    }
    const index = new SearchIndex(this.client, options.indexName);
    for await (const page of index.scan({
      query: { term: { [`${META_FIELD}.source`]: stream.id } },
      fields: [`${META_FIELD}.key`],
      pageSize: 1000,
      signal: options.signal,
    })) {
      const docs = page.flatMap((hit) => {
        const key = parseKeyField(hit.fields[`${META_FIELD}.key`]?.[0]);
        return key === undefined ? [] : [{ id: hit.id, key }];
      });
      const found = await this.source.existing(
        client,
        stream,
        this.plan.server,
        docs.map((d) => d.key),
        options.signal,
      );
      for (const doc of docs) {
        if (found.has(JSON.stringify(doc.key))) continue;
        await writer.add({ action: "delete", id: doc.id });
        deleted++;
      }
    }
    return { indexed, deleted };
  }

  /** After a TRUNCATE: every document of the stream goes. */
  private async deleteAll(
    streamId: string,
    indexName: string,
    writer: BulkWriter,
    signal: AbortSignal,
  ): Promise<number> {
    const index = new SearchIndex(this.client, indexName);
    let count = 0;
    for await (const page of index.scan({
      query: { term: { [`${META_FIELD}.source`]: streamId } },
      fields: [],
      pageSize: 5000,
      signal,
    })) {
      for (const hit of page) {
        await writer.add({ action: "delete", id: hit.id });
        count++;
      }
    }
    return count;
  }
}

function byRelationKey(map: Map<string, SourceStream>, stream: SourceStream): void {
  map.set(`${stream.schema}.${stream.tables[0] ?? ""}`, stream);
}

/** 5 s, 10 s, 20 s ... capped at 5 minutes, with up to 20% jitter so instances spread out. */
export function followRetryDelayMs(attempt: number): number {
  const base = Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base * (1 + Math.random() * 0.2));
}

/** The `_pgsearch.key` doc value: JSON text of the key's parts. */
function parseKeyField(value: unknown): (string | null)[] | undefined {
  if (typeof value !== "string") return undefined;
  const key = JSON.parse(value) as unknown;
  return Array.isArray(key) ? (key as (string | null)[]) : undefined;
}

/** Key values as PostgreSQL text, from the values pgoutput's parser produced. */
function keyText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return value.toString();
  return JSON.stringify(value);
}

/** Drops the slot (and the publication, when it is ours): `pgsearch slot drop`. */
export async function dropSlot(admin: PgClient, slotName: string, publication?: string): Promise<boolean> {
  const result = await admin.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
    [slotName],
  );
  if (publication !== undefined) await admin.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(publication)}`);
  return (result.rowCount ?? 0) > 0;
}

/** Retained WAL and lag of a slot, for warnings and metrics. */
export async function slotLag(
  admin: PgClient,
  slotName: string,
): Promise<{ retainedBytes: number; active: boolean } | undefined> {
  const result = await admin.query<{ retained: string; active: boolean }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS retained, active
     FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slotName)}`,
  );
  const row = result.rows[0];
  return row === undefined ? undefined : { retainedBytes: Number(row.retained), active: row.active };
}

export { CanceledError };
