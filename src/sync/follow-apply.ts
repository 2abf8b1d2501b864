import type { Client } from "@elastic/elasticsearch";
import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import type { BulkItem } from "../sink/bulk-writer.js";
import { META_FIELD, SearchIndex } from "../sink/search-index.js";
import { queryWithSignal, type PgClient } from "../source/connection.js";
import { SourceError } from "../errors.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { SourcePlan, SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import { partTerm } from "../source/reader.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import { performance } from "node:perf_hooks";
import type { ChangeBatch, PendingPart } from "./change-buffer.js";
import { parseKey, reportOversize, RowDecider } from "./row-decision.js";
import type { SourceRow } from "../source/reader.js";
import { BatchOwners, type CollisionGuard } from "./id-owners.js";

type Key = (string | null)[];

/** What applying a batch needs: where rows come from and where documents go. */
export interface ApplyContext {
  source: PostgresSource;
  client: Client;
  plan: SourcePlan;
  indexName: string;
  rules: BasicRuleEngine;
  batchRows: number;
  logger: Logger;
  signal: AbortSignal;
  /** Which rows can share a document id with another row (checked against the index's owners). */
  guard?: CollisionGuard | undefined;
}

export interface ApplyCounts {
  indexed: number;
  deleted: number;
}

export interface BatchTimings {
  /** Commit of the batch's first transaction → its first change reached the follower (decoding, network, a held stream). */
  streamMs: number;
  /** First change collected → batch taken (`maxDelayMs`, or waiting behind the batch being applied). */
  bufferMs: number;
  /** Opening the re-read connection (0 when the long-lived one is alive). */
  connectMs: number;
  /** Re-reading the rows from PostgreSQL and building the documents (apply time not spent waiting for Elasticsearch). */
  rereadMs: number;
  /** Waiting for Elasticsearch's bulk responses (backpressure and the final flush), retries included. */
  writeMs: number;
  /** Confirming the position to PostgreSQL. */
  ackMs: number;
}

/** Where a batch's writes go (a BulkWriter, timed by `timedWriter`). */
export interface BatchWriter {
  add(item: BulkItem): Promise<void>;
  flush(): Promise<void>;
}

/** A writer that adds the time spent waiting for Elasticsearch (backpressure, flush) to `spent.ms`. */
export function timedWriter(writer: BatchWriter, spent: { ms: number }): BatchWriter {
  const timed = async (work: Promise<void>): Promise<void> => {
    const started = performance.now();
    try {
      await work;
    } finally {
      spent.ms += performance.now() - started;
    }
  };
  return {
    add: (item) => timed(writer.add(item)),
    flush: () => timed(writer.flush()),
  };
}

/**
 * Applies one batch of changes: the changed keys are re-read from PostgreSQL (same rendering as
 * a full sync, so types match and TOAST-unchanged columns are never blanked) and each row goes
 * through the one row decision: indexed, deleted (gone or excluded), or kept as it was (oversize).
 * `client` is the follower's long-lived connection; the batch is read in one transaction whose
 * snapshot sees every transaction of the batch (see `visibleSnapshot`).
 */
export async function applyBatch(
  ctx: ApplyContext,
  batch: ChangeBatch,
  client: PgClient,
  writer: BatchWriter,
): Promise<ApplyCounts> {
  // pg_current_snapshot from PostgreSQL 13; txid_current_snapshot (deprecated since) before.
  const fn = ctx.plan.server.versionNum >= 130000 ? "pg_current_snapshot" : "txid_current_snapshot";
  await visibleSnapshot(client, fn, batch.xids, ctx.signal);
  try {
    return await applyVisible(ctx, batch, client, writer);
  } finally {
    await client.query("COMMIT").catch(() => undefined);
  }
}

/**
 * Opens a REPEATABLE READ transaction whose snapshot sees all of `xids`. A commit reaches the WAL
 * (and so logical decoding) a moment before other sessions see it: a re-read in that moment
 * would index the row as it was before (or delete a new row) and confirm the change as applied.
 */
async function visibleSnapshot(
  client: PgClient,
  snapshotFunction: string,
  xids: number[],
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await queryWithSignal(client, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [], signal);
    const result = await queryWithSignal<{ snapshot: string }>(
      client,
      `SELECT ${snapshotFunction}()::text AS snapshot`,
      [],
      signal,
    );
    if (xids.length === 0 || seesAll(result.rows[0]?.snapshot ?? "", xids)) return;
    await client.query("COMMIT");
    if (attempt >= 1000) throw new SourceError("the changes' transactions did not become visible in 5 s");
    await sleep(5, undefined, { signal });
  }
}

/** Whether a snapshot ("xmin:xmax:xip,...", 64-bit txids) sees these 32-bit xids (recent ones). */
export function seesAll(snapshot: string, xids: number[]): boolean {
  const [, xmaxText, xipText] = snapshot.split(":");
  if (xmaxText === undefined) return false;
  const low = (text: string): number => Number(BigInt(text) & 0xffffffffn);
  const xmax = low(xmaxText);
  const running = new Set(
    (xipText ?? "")
      .split(",")
      .filter((t) => t !== "")
      .map(low),
  );
  // Modulo 2^32: an xid the snapshot can see is before xmax (less than 2^31 behind it) and not running.
  return xids.every((xid) => {
    const behind = (xmax - xid) >>> 0;
    return !running.has(xid) && behind >= 1 && behind < 2 ** 31;
  });
}

async function applyVisible(
  ctx: ApplyContext,
  batch: ChangeBatch,
  client: PgClient,
  writer: BatchWriter,
): Promise<ApplyCounts> {
  const counts: ApplyCounts = { indexed: 0, deleted: 0 };
  const owners = batchOwners(ctx, client);
  for (const streamId of batch.truncates) counts.deleted += await deleteAll(ctx, streamId, writer);
  if (batch.rereads.length > 0) {
    // A whole advanced rule read again (rare: a TRUNCATE of a table it reads): a snapshot, as a full sync.
    const snapshot = await ctx.source.openSnapshot(ctx.signal);
    try {
      for (const stream of batch.rereads)
        add(counts, await reread(ctx, stream, snapshot, client, writer, owners));
    } finally {
      await snapshot.close();
    }
  }
  const byStream = new Map<SourceStream, Key[]>();
  for (const change of batch.changes) {
    if (batch.truncates.includes(change.stream.id)) continue;
    const keys = byStream.get(change.stream);
    if (keys === undefined) byStream.set(change.stream, [change.key]);
    else keys.push(change.key);
  }
  for (const [stream, keys] of byStream)
    add(counts, await applyKeys(ctx, stream, keys, client, writer, owners));
  add(counts, await applyParts(ctx, batch.parts, client, writer, owners));
  // A row refused because another row held its id gets the document that row deleted in this batch
  // (after that delete is written: an index of the id in a concurrent request could land first).
  const freed = await owners.waitingRows(() => writer.flush(), rowId(ctx));
  for (const { stream, row } of freed)
    add(counts, await write(ctx, new RowDecider(stream, ctx.source.config, ctx.rules), row, writer, owners));
  await writer.flush();
  return counts;
}

function rowId(ctx: ApplyContext): (stream: SourceStream, key: Key) => string {
  return (stream, key) => new RowDecider(stream, ctx.source.config, ctx.rules).id(key);
}

/** Document owners for the rows of this batch that can collide; a collision is logged naming both rows. */
function batchOwners(ctx: ApplyContext, client: PgClient): BatchOwners {
  return new BatchOwners({
    source: ctx.source,
    index: new SearchIndex(ctx.client, ctx.indexName),
    streams: ctx.plan.streams,
    server: ctx.plan.server,
    guard: ctx.guard,
    connection: () => Promise.resolve(client),
    report: (c) => {
      ctx.logger.warn({ table: c.stream, key: c.second, document_id: c.target }, `collision: ${c.message}`);
    },
    signal: ctx.signal,
  });
}

function add(total: ApplyCounts, more: ApplyCounts): void {
  total.indexed += more.indexed;
  total.deleted += more.deleted;
}

/**
 * One row decision, written: index, delete, or (oversize) leave the existing document alone. A
 * row whose id another existing row's document holds writes nothing (BatchOwners).
 */
async function write(
  ctx: ApplyContext,
  decider: RowDecider,
  row: SourceRow,
  writer: BatchWriter,
  owners: BatchOwners,
): Promise<ApplyCounts> {
  const decision = decider.decide(row);
  const action = decision.action === "index" ? "index" : "delete";
  if (
    decision.action !== "oversize" &&
    !(await owners.mayWrite(decider.stream, row, decision.doc.id, action))
  )
    return { indexed: 0, deleted: 0 };
  if (decision.action === "index") {
    await writer.add({ action: "index", id: decision.doc.id, source: decision.doc.source });
    return { indexed: 1, deleted: 0 };
  }
  if (decision.action === "exclude") {
    await writer.add({ action: "delete", id: decision.doc.id });
    return { indexed: 0, deleted: 1 };
  }
  reportOversize(ctx.logger, decider.stream.id, row.key, decision.doc, ctx.source.config.maxDocumentBytes);
  return { indexed: 0, deleted: 0 };
}

async function applyKeys(
  ctx: ApplyContext,
  stream: SourceStream,
  keys: Key[],
  client: PgClient,
  writer: BatchWriter,
  owners: BatchOwners,
): Promise<ApplyCounts> {
  const counts: ApplyCounts = { indexed: 0, deleted: 0 };
  const decider = new RowDecider(stream, ctx.source.config, ctx.rules);
  const read = (from: number): Promise<Map<string, SourceRow>> | undefined => {
    if (from >= keys.length) return undefined;
    const rows = ctx.source.existing(
      client,
      stream,
      ctx.plan.server,
      keys.slice(from, from + 1000),
      ctx.signal,
    );
    rows.catch(() => undefined); // awaited below, or abandoned when a write failed first
    return rows;
  };
  // The next slice is read while this one's writes wait for Elasticsearch: one snapshot for the
  // whole batch (applyBatch), so reading earlier changes nothing.
  let next = read(0);
  for (let i = 0; next !== undefined; i += 1000) {
    const rows = await next;
    next = read(i + 1000);
    const slice = keys.slice(i, i + 1000);
    await owners.preload(stream, slice, (key) => decider.id(key));
    for (const key of slice) {
      const row = rows.get(JSON.stringify(key));
      if (row !== undefined) {
        add(counts, await write(ctx, decider, row, writer, owners));
      } else if (await owners.mayWrite(stream, { key }, decider.id(key), "delete")) {
        await writer.add({ action: "delete", id: decider.id(key) });
        counts.deleted++;
      }
    }
  }
  return counts;
}

/**
 * Re-evaluates advanced rules for the changed keys of their tables: the rule's rows with those
 * keys are written; documents that had them and are no longer in the rule's result go.
 */
async function applyParts(
  ctx: ApplyContext,
  changes: PendingPart[],
  client: PgClient,
  writer: BatchWriter,
  owners: BatchOwners,
): Promise<ApplyCounts> {
  const counts: ApplyCounts = { indexed: 0, deleted: 0 };
  const groups = new Map<string, PendingPart[]>();
  for (const change of changes) {
    const key = `${change.stream.id}\u0000${change.part.relation}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [change]);
    else group.push(change);
  }
  const index = new SearchIndex(ctx.client, ctx.indexName);
  for (const group of groups.values()) {
    const { stream, part } = group[0] as PendingPart;
    const decider = new RowDecider(stream, ctx.source.config, ctx.rules);
    const keys = group.map((g) => g.key);
    const rows = await ctx.source.rowsByPart(
      client,
      stream,
      ctx.plan.server,
      part.columnIndexes,
      keys,
      ctx.signal,
    );
    const kept = new Set<string>();
    await owners.preload(
      stream,
      rows.map((row) => row.key),
      (key) => decider.id(key),
    );
    for (const row of rows) {
      const decision = decider.decide(row);
      // Kept: written now, or left as it was (oversize); excluded ones go with the stale below.
      if (decision.action !== "exclude") kept.add(decision.doc.id);
      if (decision.action !== "exclude") add(counts, await write(ctx, decider, row, writer, owners));
    }
    // Documents that came from these keys before: gone unless the rule still yields them.
    // (A refresh first, so documents written by the previous batch are seen.)
    await index.refresh(ctx.signal);
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
      signal: ctx.signal,
    })) {
      for (const hit of page) {
        if (kept.has(hit.id)) continue;
        await writer.add({ action: "delete", id: hit.id });
        counts.deleted++;
      }
    }
  }
  return counts;
}

/**
 * After a TRUNCATE of a table an advanced rule reads: the rule's whole result is written again,
 * and its documents whose keys the rule no longer yields go (checked a page of keys at a time, so
 * memory stays bounded whatever the rule's size).
 */
async function reread(
  ctx: ApplyContext,
  stream: SourceStream,
  snapshot: SyncSnapshot,
  client: PgClient,
  writer: BatchWriter,
  owners: BatchOwners,
): Promise<ApplyCounts> {
  const counts: ApplyCounts = { indexed: 0, deleted: 0 };
  const decider = new RowDecider(stream, ctx.source.config, ctx.rules);
  for await (const batch of ctx.source.read(snapshot, stream, ctx.plan.server, {
    batchRows: ctx.batchRows,
    signal: ctx.signal,
  })) {
    await owners.preload(
      stream,
      batch.map((row) => row.key),
      (key) => decider.id(key),
    );
    for (const row of batch) add(counts, await write(ctx, decider, row, writer, owners));
  }
  const index = new SearchIndex(ctx.client, ctx.indexName);
  for await (const page of index.scan({
    query: { term: { [`${META_FIELD}.source`]: stream.id } },
    fields: [`${META_FIELD}.key`],
    pageSize: 1000,
    signal: ctx.signal,
  })) {
    const docs = page.flatMap((hit) => {
      const key = parseKey(hit.fields[`${META_FIELD}.key`]?.[0]);
      return key === undefined ? [] : [{ id: hit.id, key }];
    });
    const keys = docs.map((d) => d.key);
    const found = await ctx.source.existing(client, stream, ctx.plan.server, keys, ctx.signal);
    for (const doc of docs) {
      if (found.has(JSON.stringify(doc.key))) continue;
      await writer.add({ action: "delete", id: doc.id });
      counts.deleted++;
    }
  }
  return counts;
}

/** After a TRUNCATE: every document of the stream goes. */
async function deleteAll(ctx: ApplyContext, streamId: string, writer: BatchWriter): Promise<number> {
  const index = new SearchIndex(ctx.client, ctx.indexName);
  let count = 0;
  for await (const page of index.scan({
    query: { term: { [`${META_FIELD}.source`]: streamId } },
    fields: [],
    pageSize: 5000,
    signal: ctx.signal,
  })) {
    for (const hit of page) {
      await writer.add({ action: "delete", id: hit.id });
      count++;
    }
  }
  return count;
}
