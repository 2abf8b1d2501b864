import type { SourceStream } from "../source/plan.js";
import { compatIdPrefix } from "./document.js";

/**
 * Cross-table id overlap in compat mode. Every id of a stream is its prefix
 * `{db}_{schema}_{tables}_` followed by its key parts joined by "_", so table `a_b` (key `c`) and
 * table `a` (key `b_c`) both print `db_s_a_b_c`. Two streams can share an id only when one
 * prefix starts with the other; a row needs remembering only when its id is one the other stream
 * could also print. Everything here is decided once per sync, so a stream without a partner
 * costs nothing per row.
 */

/**
 * What Python's `str()` of a non-null key value prints for types whose text never contains "_"
 * (a superset: only used to rule ids out). Other types (text, bytea's repr, arrays...) may print
 * anything.
 */
const PART_PATTERNS: Record<string, string> = {
  int2: "-?\\d+",
  int4: "-?\\d+",
  int8: "-?\\d+",
  oid: "\\d+",
  numeric: "[-+.\\dE]+|NaN|-?Infinity",
  float4: "[-+.\\de]+|nan|-?inf",
  float8: "[-+.\\de]+|nan|-?inf",
  bool: "True|False",
  uuid: "[0-9a-f-]+",
  date: "[-\\d]+(?: BC)?|-?infinity",
  timestamp: "[-+\\d :.BC]+|-?infinity",
  timestamptz: "[-+\\d :.BC]+|-?infinity",
  time: "[\\d:.]+",
  timetz: "[-+\\d:.]+",
};

/** The ids one stream can print: its prefix, then text its key can print. */
interface IdShape {
  prefix: string;
  /** Per key part, the pattern of its text; undefined for a part that may print anything ("_" included). */
  parts: (RegExp | undefined)[] | undefined;
  /** The whole key text, or undefined when any text is possible (query streams: NULL parts are left out). */
  keyText: RegExp | undefined;
}

function shapeOf(database: string, stream: SourceStream): IdShape {
  const prefix = compatIdPrefix(database, stream);
  if (stream.kind === "query") return { prefix, parts: undefined, keyText: undefined };
  const sources = stream.keyIndexes.map((i) => {
    const column = stream.columns[i];
    return column === undefined || column.isArray ? undefined : PART_PATTERNS[column.typeName];
  });
  const parts = sources.map((s) => (s === undefined ? undefined : new RegExp(`^(?:${s})$`)));
  const whole = sources.map((s) => (s === undefined ? "[^]*" : `(?:${s})`)).join("_");
  return {
    prefix,
    parts,
    keyText: sources.every((s) => s === undefined) ? undefined : new RegExp(`^${whole}$`),
  };
}

/** Whether an id (md5-hashed when over 512 bytes: such ids are always possible) fits a stream's shape. */
function couldPrint(shape: IdShape, id: string): boolean {
  if (!id.includes("_")) return true; // a hashed id: its text is unknown
  if (!id.startsWith(shape.prefix)) return false;
  return shape.keyText === undefined || shape.keyText.test(id.slice(shape.prefix.length));
}

/**
 * Whether the stream of `shorter` can print an id starting with `longer`'s prefix: the rest of
 * that prefix ("b_" for `db_s_a_` and `db_s_a_b_`) must be what its first key parts print.
 */
function canReach(shorter: IdShape, longer: IdShape): boolean {
  if (!longer.prefix.startsWith(shorter.prefix)) return false;
  if (shorter.parts === undefined) return true;
  const segments = longer.prefix.slice(shorter.prefix.length).split("_").slice(0, -1);
  for (let i = 0; i < segments.length; i++) {
    const part = shorter.parts[i];
    if (i >= shorter.parts.length) return false; // the key has fewer parts than the rest has segments
    if (part === undefined) return true; // a part that may contain "_" can absorb the rest
    if (!part.test(segments[i] ?? "")) return false;
  }
  return segments.length < shorter.parts.length; // the longer stream's key prints at least one part
}

/**
 * Per stream id, a test of which of its rows' ids another stream could print too; streams missing
 * from the map cannot share an id with any other stream. Empty in clean mode: ids carry the
 * stream's name and the JSON of the key, which no other stream prints.
 */
export function crossStreamOverlap(
  streams: SourceStream[],
  database: string,
  compat: boolean,
): Map<string, (id: string) => boolean> {
  const tests = new Map<string, (id: string) => boolean>();
  if (!compat || streams.length < 2) return tests;
  const shapes = streams.map((s) => shapeOf(database, s));
  streams.forEach((stream, i) => {
    const mine = shapes[i] as IdShape;
    const partners = shapes.filter((other, j) => j !== i && (canReach(mine, other) || canReach(other, mine)));
    if (partners.length > 0) tests.set(stream.id, (id) => partners.some((p) => couldPrint(p, id)));
  });
  return tests;
}
