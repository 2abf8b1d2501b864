import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import type { BulkWriter } from "../sink/bulk-writer.js";
import { bodyOf, type SearchIndex } from "../sink/search-index.js";
import type { ServerInfo } from "../source/catalog.js";
import type { SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { SourceRow } from "../source/reader.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import type { BatchTicket, CheckpointTracker } from "./checkpoints.js";
import { type Collision, IdCollisionDetector, type SyncIds } from "./collisions.js";
import type { BuiltDocument } from "./document.js";
import { BatchOwners, type CollisionGuard } from "./id-owners.js";
import type { PgClient } from "../source/connection.js";
import { reportOversize, RowDecider } from "./row-decision.js";
import type { OversizeDocument, StreamProgress } from "./sync-types.js";

type Key = (string | null)[];
type OwnedFilter = (rows: SourceRow[], idOf: (key: Key) => string) => Promise<SourceRow[]>;

/** Everything a stream read writes to and reports into, shared by the streams of one sync. */
export interface StreamReadContext {
  source: PostgresSource;
  server: ServerInfo;
  snapshot: SyncSnapshot;
  writer: BulkWriter<BatchTicket>;
  tracker: CheckpointTracker;
  index: SearchIndex;
  rules: BasicRuleEngine;
  logger: Logger;
  batchRows: number;
  fallbackTimestamp: string;
  oversize: OversizeDocument[];
  collisions: Collision[];
  /** Ids remembered across the sync's streams (cross-table collisions). */
  ids: SyncIds;
  /** Every stream of the sync (the owner of a stored document is looked up in its own). */
  streams: SourceStream[];
  /** Which rows can collide: checked against the stored documents when only changed rows are read. */
  guard: CollisionGuard;
  signal: AbortSignal | undefined;
}

export interface StreamReadOptions {
  after: (string | null)[] | undefined;
  changedSince: string | undefined;
  /** Send only documents whose text differs from the indexed one (index.storedBodies). */
  skipUnchanged: boolean;
  /**
   * A catch-up pass over rows already read (after a resume or a lost snapshot): its writes do not
   * move the stream's checkpoint, and collisions were already reported by the first pass.
   */
  catchUp?: boolean;
}

/**
 * Hash look-ups kept in flight while the next batches are read: on a re-sync of unchanged rows
 * the look-up (an Elasticsearch round trip per batch) otherwise serialises with the PostgreSQL
 * read (measured in docs/benchmarks.md). Batches are still handed on in read order.
 */
const LOOKUPS_IN_FLIGHT = 3;

/** Reads one stream into the writer; the checkpoint follows the acknowledged batches. */
export async function readStreamInto(
  stream: SourceStream,
  ctx: StreamReadContext,
  progress: StreamProgress,
  options: StreamReadOptions,
): Promise<void> {
  const owned = storedOwnerCheck(stream, ctx, options);
  try {
    await readBatches(stream, ctx, progress, options, owned?.filter);
  } finally {
    await owned?.release();
  }
}

/**
 * An incremental sync reads only changed rows: a row whose id another row's document holds in
 * the index (a row not read this time) is found there. Undefined for streams that cannot collide
 * and for syncs that read every row (the in-memory detector sees both rows).
 */
function storedOwnerCheck(
  stream: SourceStream,
  ctx: StreamReadContext,
  options: StreamReadOptions,
):
  | {
      filter: OwnedFilter;
      release: () => Promise<void>;
    }
  | undefined {
  if (
    options.changedSince === undefined ||
    options.catchUp === true ||
    ctx.guard.testFor(stream) === undefined
  )
    return undefined;
  let reader: Promise<PgClient> | undefined;
  const owners = new BatchOwners({
    source: ctx.source,
    index: ctx.index,
    streams: ctx.streams,
    server: ctx.server,
    guard: ctx.guard,
    connection: () => (reader ??= ctx.snapshot.reader(ctx.signal)),
    report: (c) => {
      reportCollision(ctx, c, JSON.parse(c.second) as Key, false);
    },
    signal: ctx.signal,
  });
  return {
    filter: async (rows, idOf) => {
      await owners.preload(
        stream,
        rows.map((row) => row.key),
        idOf,
      );
      const kept: SourceRow[] = [];
      for (const row of rows) if (await owners.mayWrite(stream, row, idOf(row.key), "index")) kept.push(row);
      return kept;
    },
    release: async () => {
      const client = await reader?.catch(() => undefined); // a failed connect was reported where it was awaited
      if (client !== undefined) await ctx.snapshot.release(client);
    },
  };
}

async function readBatches(
  stream: SourceStream,
  ctx: StreamReadContext,
  progress: StreamProgress,
  options: StreamReadOptions,
  owned: OwnedFilter | undefined,
): Promise<void> {
  const decider = new RowDecider(stream, ctx.source.config, ctx.rules, ctx.fallbackTimestamp);
  const compat = ctx.source.config.documentMode === "compat";
  const ids = new IdCollisionDetector(stream, compat, ctx.ids, options.catchUp === true);
  const decide = (row: SourceRow): BuiltDocument | undefined =>
    decideRow(row, stream, decider, ids, ctx, progress, options.catchUp === true);
  const ticketFor = (lastKey: (string | null)[], pending: number): BatchTicket =>
    options.catchUp === true ? untracked(stream.id) : ctx.tracker.addBatch(stream.id, lastKey, pending);
  const add = async (doc: BuiltDocument, ticket: BatchTicket): Promise<void> => {
    const room = ctx.writer.queue({ action: "index", id: doc.id, source: doc.source, tag: ticket });
    if (room !== undefined) await room;
    progress.docsSent++;
  };
  // Re-syncs: batches queued to overlap their unchanged-row look-ups with the read.
  const lookups: { toSend: Promise<BuiltDocument[]>; lastKey: (string | null)[] }[] = [];
  const send = async (batch: (typeof lookups)[number]): Promise<void> => {
    const toSend: (BuiltDocument | undefined)[] = await batch.toSend;
    const ticket = ticketFor(batch.lastKey, toSend.length);
    for (let i = 0; i < toSend.length; i++) {
      const doc = toSend[i] as BuiltDocument;
      toSend[i] = undefined; // encoded into a request body by add(): not kept with the batch
      await add(doc, ticket);
    }
  };
  for await (let rows of ctx.source.read(ctx.snapshot, stream, ctx.server, {
    batchRows: ctx.batchRows,
    after: options.after,
    changedSince: options.changedSince,
    signal: ctx.signal,
  })) {
    if (options.catchUp !== true) {
      progress.rowsRead += rows.length;
      ctx.tracker.addRows(stream.id, rows.length);
    }
    const last = rows[rows.length - 1];
    if (last === undefined) continue;
    if (owned !== undefined) rows = await owned(rows, (key) => decider.id(key));
    if (options.skipUnchanged) {
      const docs = rows.map(decide).filter((doc) => doc !== undefined);
      rows.length = 0; // the rows are documents now: let them go before waiting on Elasticsearch
      const toSend = changedOnly(docs, ctx, progress);
      // Awaited in order below; a failure meanwhile must not surface as an unhandled rejection.
      toSend.catch(() => undefined);
      lookups.push({ toSend, lastKey: last.key });
      if (lookups.length >= LOOKUPS_IN_FLIGHT) await send(lookups.shift() as (typeof lookups)[number]);
    } else {
      // Each document is built just before it is encoded into a request body, so none waits in
      // memory. A row that is not sent counts as acknowledged at once.
      const ticket = ticketFor(last.key, rows.length);
      for (let i = 0; i < rows.length; i++) {
        const doc = decide(rows[i] as SourceRow);
        if (doc === undefined) ticket.ack();
        else await add(doc, ticket);
      }
    }
    // The next batch is read when it can be sent at once (see BulkWriter.ready).
    const room = ctx.writer.ready();
    if (room !== undefined) await room;
  }
  for (const batch of lookups.splice(0)) await send(batch);
}

/** The document to index for one row, or undefined: oversize, excluded and colliding rows reported. */
function decideRow(
  row: SourceRow,
  stream: SourceStream,
  decider: RowDecider,
  ids: IdCollisionDetector,
  ctx: StreamReadContext,
  progress: StreamProgress,
  catchUp: boolean,
): BuiltDocument | undefined {
  const decision = decider.decide(row);
  const collision = ids.check(decision.doc.id, row.key);
  if (collision !== undefined) {
    reportCollision(ctx, collision, row.key, catchUp);
    return undefined;
  }
  if (decision.action === "oversize") {
    progress.oversize++;
    reportOversize(ctx.logger, stream.id, row.key, decision.doc, ctx.source.config.maxDocumentBytes);
    if (ctx.oversize.length < 1000)
      ctx.oversize.push({ stream: stream.id, key: row.key, id: decision.doc.id, bytes: decision.doc.bytes });
    return undefined;
  }
  // An excluded row's document, if any, goes in the delete pass.
  if (decision.action === "exclude") progress.filtered++;
  return decision.action === "index" ? decision.doc : undefined;
}

/** The first row keeps the document; the second is reported, never silently merged. */
function reportCollision(
  ctx: StreamReadContext,
  collision: Collision,
  key: (string | null)[],
  catchUp: boolean,
): void {
  if (!catchUp && ctx.collisions.length < 1000) ctx.collisions.push(collision);
  ctx.logger.warn({ table: collision.stream, key, document_id: collision.target }, collision.message);
}

async function changedOnly(
  docs: BuiltDocument[],
  ctx: StreamReadContext,
  progress: StreamProgress,
): Promise<BuiltDocument[]> {
  if (docs.length === 0) return docs;
  const stored = await ctx.index.storedBodies(
    docs.map((d) => d.id),
    ctx.signal,
  );
  const changed = docs.filter((d) => stored.get(d.id) !== bodyOf(d.source));
  progress.unchanged += docs.length - changed.length;
  return changed;
}

/** Catch-up writes count for the final flush only, not for the stream's resume position. */
function untracked(stream: string): BatchTicket {
  return { stream, ack: () => undefined };
}
