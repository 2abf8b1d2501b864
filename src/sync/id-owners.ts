import type { PostgresConfig } from "../config/postgres-config.js";
import type { SearchIndex, StoredOwner } from "../sink/search-index.js";
import type { ServerInfo } from "../source/catalog.js";
import type { PgClient } from "../source/connection.js";
import type { SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { SourceRow } from "../source/reader.js";
import { type Collision, idCollision } from "./collisions.js";
import { crossStreamOverlap } from "./id-overlap.js";

type Key = (string | null)[];

/** The row a document belongs to: its stream, the JSON of its key (and of its parts, query streams). */
interface Owner {
  stream: string;
  key: string;
  /** Query streams: the listed tables' keys, which tell two rows with equal id_columns apart. */
  parts?: string | undefined;
}

/**
 * Which rows can share a document id with another row, the cases the full sync's
 * IdCollisionDetector remembers: query streams, compat composite keys with "_" in a part, tables
 * whose id prefixes overlap. Decided once from the streams; a stream without a test is written
 * with no look-up (the fast path).
 */
export class CollisionGuard {
  private readonly tests = new Map<string, (id: string, key: Key) => boolean>();

  constructor(streams: SourceStream[], config: Pick<PostgresConfig, "database" | "documentMode">) {
    const compat = config.documentMode === "compat";
    const cross = crossStreamOverlap(streams, config.database, compat);
    for (const stream of streams) {
      const other = cross.get(stream.id);
      if (stream.kind === "query") this.tests.set(stream.id, () => true);
      else if (compat && stream.keyIndexes.length > 1)
        this.tests.set(
          stream.id,
          (id, key) => other?.(id) === true || key.some((part) => part?.includes("_") === true),
        );
      else if (other !== undefined) this.tests.set(stream.id, (id) => other(id));
    }
  }

  /**
   * Rows refused while following, by the id they wanted (the latest one each): when the row
   * holding the document goes, the follower gives it to the refused row (at most 10,000 kept).
   */
  readonly waiting = new Map<string, Owner>();

  /** Undefined when no row of the stream can share an id. */
  testFor(stream: SourceStream): ((id: string, key: Key) => boolean) | undefined {
    return this.tests.get(stream.id);
  }
}

/** What BatchOwners reads from and reports to. */
export interface OwnersContext {
  source: PostgresSource;
  index: SearchIndex;
  streams: SourceStream[];
  server: ServerInfo;
  guard: CollisionGuard | undefined;
  /** The connection (and so the snapshot) in which an owner row's existence is checked. */
  connection: () => Promise<PgClient>;
  report: (collision: Collision) => void;
  signal: AbortSignal | undefined;
}

/**
 * The owners of the documents that rows which can collide would write, read from the index
 * (`preload`, one mget per slice), then kept up to date with what this batch decides, so a later
 * change of the same batch sees them before Elasticsearch does. A row writes or deletes a
 * document only when no other row that still exists owns it: the first row keeps the document
 * (as in a full sync), and a second row's update or delete never touches it. Used by follow mode
 * and by incremental syncs, which read only changed rows.
 */
export class BatchOwners {
  /** What this batch decided (null: deleted). */
  private readonly decided = new Map<string, Owner | null>();
  private readonly stored = new Map<string, Owner>();
  /** Ids whose stored owner was read (found or not). */
  private readonly looked = new Set<string>();
  /** Documents their owner deleted in this batch while another row waits for the id. */
  readonly freed: string[] = [];

  constructor(private readonly ctx: OwnersContext) {}

  /** Reads the owners of the documents these keys' rows may write, where they can collide. */
  async preload(stream: SourceStream, keys: Key[], idOf: (key: Key) => string): Promise<void> {
    const test = this.ctx.guard?.testFor(stream);
    if (test === undefined) return;
    const ids = keys.map(idOf).filter((id, i) => test(id, keys[i] as Key));
    if (ids.length > 0) await this.load(ids);
  }

  /**
   * Whether the row may index or delete document `id`: always for rows that cannot collide;
   * else not when another row that still exists owns it (a refused index is reported).
   */
  async mayWrite(
    stream: SourceStream,
    row: { key: Key; parts?: string[] | undefined },
    id: string,
    action: "index" | "delete",
  ): Promise<boolean> {
    const test = this.ctx.guard?.testFor(stream);
    if (test === undefined || !test(id, row.key)) return true;
    if (!this.decided.has(id) && !this.looked.has(id)) await this.load([id]);
    const parts = row.parts === undefined ? undefined : JSON.stringify(row.parts);
    const me: Owner = { stream: stream.id, key: JSON.stringify(row.key), parts };
    const owner = this.owner(id);
    if (owner !== undefined && !same(owner, me) && (action === "delete" || (await this.exists(owner)))) {
      if (action === "index") this.refused(id, owner, me);
      return false;
    }
    if (action === "delete" && owner !== undefined && this.ctx.guard?.waiting.has(id) === true)
      this.freed.push(id);
    this.decided.set(id, action === "index" ? me : null);
    return true;
  }

  /**
   * The rows refused earlier whose id their owner deleted in this batch, as they are now (re-read
   * after `before`); those gone or with another id since are left out.
   */
  async waitingRows(
    before: () => Promise<void>,
    idOf: (stream: SourceStream, key: Key) => string,
  ): Promise<{ stream: SourceStream; row: SourceRow }[]> {
    const waiting = this.ctx.guard?.waiting;
    if (this.freed.length === 0 || waiting === undefined) return [];
    await before();
    const rows: { stream: SourceStream; row: SourceRow }[] = [];
    for (const id of this.freed.splice(0)) {
      const owner = waiting.get(id);
      waiting.delete(id);
      const stream = this.ctx.streams.find((s) => s.id === owner?.stream);
      if (owner === undefined || stream === undefined) continue;
      const key = JSON.parse(owner.key) as Key;
      const client = await this.ctx.connection();
      const found = await this.ctx.source.existing(client, stream, this.ctx.server, [key], this.ctx.signal);
      const row = found.get(owner.key);
      if (row !== undefined && idOf(stream, row.key) === id) rows.push({ stream, row });
    }
    return rows;
  }

  private refused(id: string, owner: Owner, me: Owner): void {
    this.ctx.report(idCollision(id, owner, me));
    const waiting = this.ctx.guard?.waiting;
    if (waiting !== undefined && (waiting.size < 10_000 || waiting.has(id))) waiting.set(id, me);
  }

  /** The row holding document `id` now, as far as the index and this batch say. */
  owner(id: string): Owner | undefined {
    return (this.decided.has(id) ? this.decided.get(id) : this.stored.get(id)) ?? undefined;
  }

  private async load(ids: string[]): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.decided.has(id) && !this.looked.has(id));
    for (const id of wanted) this.looked.add(id);
    const found = await this.ctx.index.storedOwners(wanted, this.ctx.signal);
    for (const [id, owner] of found) this.stored.set(id, asOwner(owner));
  }

  private async exists(owner: Owner): Promise<boolean> {
    const stream = this.ctx.streams.find((s) => s.id === owner.stream);
    if (stream === undefined) return false; // no longer synced: its document is stale
    const key = JSON.parse(owner.key) as Key;
    const client = await this.ctx.connection();
    const rows = await this.ctx.source.existing(client, stream, this.ctx.server, [key], this.ctx.signal);
    return rows.has(owner.key);
  }
}

function asOwner(stored: StoredOwner): Owner {
  return {
    stream: stored.source,
    key: stored.key,
    parts: stored.parts === undefined ? undefined : JSON.stringify(stored.parts),
  };
}

function same(a: Owner, b: Owner): boolean {
  return (
    a.stream === b.stream &&
    a.key === b.key &&
    (a.parts === undefined || b.parts === undefined || a.parts === b.parts)
  );
}
