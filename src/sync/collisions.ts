import { compatPrefix, type SourceStream } from "../source/plan.js";
import { META_FIELD } from "../sink/search-index.js";
import { crossStreamOverlap } from "./id-overlap.js";

/**
 * Two rows that would become one document (same `_id`), or two columns that would become one
 * field. Elastic's connector keeps the last silently; pgsearch keeps the first document, reports
 * both, and the sync ends with exit 3 (docs/compatibility.md, docs/operations.md).
 */
export interface Collision {
  kind: "id" | "field";
  stream: string;
  /** Id collisions across tables: the stream of the row that keeps the document. */
  firstStream?: string;
  /** The document id or the field name both map to. */
  target: string;
  /** The two keys (JSON of the key values) or the two column names. */
  first: string;
  second: string;
  message: string;
}

/** Ids remembered per query stream at most; beyond that, collisions are no longer looked for. */
export const MAX_TRACKED_IDS = 2_000_000;

/** Fields pgsearch (and Elasticsearch) write themselves; a clean-mode column cannot take them. */
const RESERVED_CLEAN_FIELDS = new Set([META_FIELD, "_timestamp", "_id", "_index", "_source", "_routing"]);

/**
 * Columns whose different names map to one field: `"Name"` and `name` in compat mode (field names
 * are lower-cased), or a clean-mode column named like a bookkeeping field. Columns with the very
 * same name (a join's `SELECT *`) are not reported: the last one wins, as in Elastic's connector.
 */
export function fieldCollisions(stream: SourceStream, compat: boolean): Collision[] {
  const found: Collision[] = [];
  const byField = new Map<string, string>();
  for (const column of stream.columns) {
    const field = compat
      ? `${compatPrefix(stream.schema, stream.tables)}${column.name}`.toLowerCase()
      : column.name;
    if (!compat && RESERVED_CLEAN_FIELDS.has(field)) {
      found.push(fieldCollision(stream, field, `(${field}, written by pgsearch)`, column.name));
    }
    const earlier = byField.get(field);
    if (earlier !== undefined && earlier !== column.name) {
      found.push(fieldCollision(stream, field, earlier, column.name));
    }
    byField.set(field, column.name);
  }
  return found;
}

function fieldCollision(stream: SourceStream, field: string, first: string, second: string): Collision {
  return {
    kind: "field",
    stream: stream.id,
    target: field,
    first,
    second,
    message: `${stream.id}: columns "${first}" and "${second}" both become field "${field}"; only the last is indexed (rename one in an advanced rule)`,
  };
}

/** The row that keeps a document: its stream and the JSON of its key. */
interface Owner {
  stream: string;
  key: string;
}

/**
 * The ids remembered by all streams of one sync, so a row of one table whose id another table's
 * row already took is found too (`crossStreamOverlap` says which rows can be such).
 */
export class SyncIds {
  readonly seen = new Map<string, Owner>();
  private readonly overlap: Map<string, (id: string) => boolean>;

  constructor(streams: SourceStream[], database: string, compat: boolean) {
    this.overlap = crossStreamOverlap(streams, database, compat);
  }

  /** The test for rows of this stream another stream could share an id with; undefined: none can. */
  crossTest(stream: SourceStream): ((id: string) => boolean) | undefined {
    return this.overlap.get(stream.id);
  }
}

/**
 * Remembers the ids of one stream's rows that could collide, and reports the second row of a
 * pair. Table streams with a one-column key cannot collide within the stream (distinct values
 * print distinctly); composite keys collide only when a part contains "_" (('x_y','z') and
 * ('x','y_z')), so only those rows are remembered. Query streams may return a key twice, or NULL
 * parts (left out of the id), so every row is remembered, up to MAX_TRACKED_IDS. Rows whose id
 * another stream could print too (SyncIds) are remembered as well, in the map all streams share.
 */
export class IdCollisionDetector {
  private readonly mode: "none" | "underscore" | "all";
  private readonly cross: ((id: string) => boolean) | undefined;
  private tracked = 0;
  /** A catch-up pass meets its own rows again: each once, not as a collision. */
  private readonly reseen = new Set<string>();

  constructor(
    private readonly stream: SourceStream,
    compat: boolean,
    private readonly ids: SyncIds = new SyncIds([], "", false),
    private readonly again = false,
  ) {
    if (stream.kind === "query") this.mode = "all";
    else if (compat && stream.keyIndexes.length > 1) this.mode = "underscore";
    else this.mode = "none";
    this.cross = ids.crossTest(stream);
  }

  check(id: string, key: (string | null)[]): Collision | undefined {
    if (this.mode !== "all" && this.cross?.(id) !== true) {
      if (this.mode === "none") return undefined;
      if (!key.some((part) => part?.includes("_") === true)) return undefined;
    }
    const keyJson = JSON.stringify(key);
    const earlier = this.ids.seen.get(id);
    if (earlier === undefined) {
      if (this.tracked++ < MAX_TRACKED_IDS) this.ids.seen.set(id, { stream: this.stream.id, key: keyJson });
      return undefined;
    }
    if (this.again && earlier.stream === this.stream.id && earlier.key === keyJson && !this.reseen.has(id)) {
      this.reseen.add(id);
      return undefined;
    }
    return idCollision(id, earlier, { stream: this.stream.id, key: keyJson });
  }
}

/** The second row of a pair, reported naming both rows (and both tables when they differ). */
export function idCollision(id: string, first: Owner, second: Owner): Collision {
  const rows =
    first.stream === second.stream
      ? `${second.stream}: rows with keys ${first.key} and ${second.key}`
      : `${first.stream} row with key ${first.key} and ${second.stream} row with key ${second.key}`;
  return {
    kind: "id",
    stream: second.stream,
    ...(first.stream === second.stream ? {} : { firstStream: first.stream }),
    target: id,
    first: first.key,
    second: second.key,
    message: `${rows} both become document ${id}; the second is not indexed`,
  };
}
