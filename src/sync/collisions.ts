import { compatPrefix, type SourceStream } from "../source/plan.js";
import { META_FIELD } from "../sink/search-index.js";

/**
 * Two rows that would become one document (same `_id`), or two columns that would become one
 * field. Elastic's connector keeps the last silently; pgsearch keeps the first document, reports
 * both, and the sync ends with exit 3 (docs/compatibility.md, docs/operations.md).
 */
export interface Collision {
  kind: "id" | "field";
  stream: string;
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

/**
 * Remembers the ids of one stream's rows that could collide, and reports the second row of a
 * pair. Table streams with a one-column key cannot collide (distinct values print distinctly);
 * composite keys collide only when a part contains "_" (('x_y','z') and ('x','y_z')), so only
 * those rows are remembered. Query streams may return a key twice, or NULL parts (left out of
 * the id), so every row is remembered, up to MAX_TRACKED_IDS.
 */
export class IdCollisionDetector {
  private readonly seen = new Map<string, string>();
  private readonly mode: "none" | "underscore" | "all";

  constructor(
    private readonly stream: SourceStream,
    compat: boolean,
  ) {
    if (stream.kind === "query") this.mode = "all";
    else if (compat && stream.keyIndexes.length > 1) this.mode = "underscore";
    else this.mode = "none";
  }

  check(id: string, key: (string | null)[]): Collision | undefined {
    if (this.mode === "none") return undefined;
    if (this.mode === "underscore" && !key.some((part) => part?.includes("_") === true)) return undefined;
    const keyJson = JSON.stringify(key);
    const earlier = this.seen.get(id);
    if (earlier === undefined) {
      if (this.seen.size < MAX_TRACKED_IDS) this.seen.set(id, keyJson);
      return undefined;
    }
    return {
      kind: "id",
      stream: this.stream.id,
      target: id,
      first: earlier,
      second: keyJson,
      message: `${this.stream.id}: rows with keys ${earlier} and ${keyJson} both become document ${id}; the second is not indexed`,
    };
  }
}
