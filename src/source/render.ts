import type { ColumnInfo, ServerInfo } from "./catalog.js";
import { quoteIdent } from "./sql.js";

/**
 * SQL expressions that render one column of a row for the document. PostgreSQL does the
 * conversion; `ref` is always a qualified column reference (s."col"), never a bare name.
 *
 * Compat mode writes what Elastic's connector writes (asyncpg's Python values serialized by the
 * Elasticsearch client): six-digit fractions, `+00:00` offsets, infinity as datetime.max/min,
 * float4 widened to double, oid and pg_lsn as numbers, point as Python's tuple. Deliberate
 * differences are listed in docs/compatibility.md and checked by test/compat/golden.test.ts.
 */
export function renderExpression(
  column: ColumnInfo,
  ref: string,
  server: Pick<ServerInfo, "hasPostgis" | "postgisSchema">,
  compat: boolean,
): string {
  if (column.isArray) return ref;
  const type = column.typeName;
  if (type === "bytea") return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
  // json keeps repeated keys, which Elasticsearch refuses; jsonb keeps the last, as Python does.
  if (type === "json") return `${ref}::jsonb`;
  if (column.typeKind === "r") return rangeObject(ref);
  if (server.hasPostgis && (type === "geometry" || type === "geography")) {
    return `${quoteIdent(server.postgisSchema ?? "public")}.ST_AsGeoJSON(${ref})::json`;
  }
  if (!compat) return ref;
  switch (type) {
    case "timestamp":
      return timestampText(ref, "");
    case "timestamptz":
      return timestampText(ref, "+00:00");
    case "date":
      return `CASE WHEN ${ref} = 'infinity' THEN '9999-12-31' WHEN ${ref} = '-infinity' THEN '0001-01-01' ELSE ${isoYear(ref)} || to_char(${ref}, '-MM-DD') END`;
    case "time":
      return sixDigits(`${ref}::text`);
    case "timetz":
      return timetzText(ref);
    case "float4":
      return `${ref}::float8`;
    case "oid":
      return `${ref}::int8`;
    case "pg_lsn":
      return `(${ref} - '0/0'::pg_lsn)`;
    case "point":
    case "lseg":
    case "box":
    case "path":
    case "polygon":
    case "circle":
    case "line":
      return geometricText(ref, type);
    default:
      return ref;
  }
}

/** Ranges become Elasticsearch range objects: {"gte": 1, "lt": 10}; unbounded sides are left out. */
function rangeObject(ref: string): string {
  return (
    `CASE WHEN ${ref} IS NULL THEN NULL WHEN isempty(${ref}) THEN '{}'::json ELSE json_strip_nulls(json_build_object(` +
    `CASE WHEN lower_inc(${ref}) THEN 'gte' ELSE 'gt' END, lower(${ref}), ` +
    `CASE WHEN upper_inc(${ref}) THEN 'lte' ELSE 'lt' END, upper(${ref}))) END`
  );
}

/**
 * ISO 8601 year: 44 BC is year -0043 (PostgreSQL's to_char prints "0044" and appends "BC", which
 * is no date to Elasticsearch; Python cannot hold it at all).
 */
function isoYear(ref: string): string {
  return `CASE WHEN extract(year FROM ${ref}) < 0 THEN '-' || lpad((-extract(year FROM ${ref})::int - 1)::text, 4, '0') ELSE to_char(${ref}, 'YYYY') END`;
}

/** datetime.isoformat(): six fraction digits unless zero; infinity as datetime.max/min (no offset). */
function timestampText(ref: string, offset: string): string {
  const fraction = `CASE WHEN extract(microseconds FROM ${ref})::int8 % 1000000 <> 0 THEN to_char(${ref}, '.US') ELSE '' END`;
  return (
    `CASE WHEN ${ref} = 'infinity' THEN '9999-12-31T23:59:59.999999' WHEN ${ref} = '-infinity' THEN '0001-01-01T00:00:00' ` +
    `ELSE ${isoYear(ref)} || to_char(${ref}, '-MM-DD"T"HH24:MI:SS') || ${fraction}${offset === "" ? "" : ` || '${offset}'`} END`
  );
}

/** "13:14:15.5" → "13:14:15.500000" (time's text has a fraction only when it is not zero). */
function sixDigits(text: string): string {
  return `CASE WHEN strpos(${text}, '.') > 0 THEN rpad(${text}, 15, '0') ELSE ${text} END`;
}

/** "13:14:15.5+02" → "13:14:15.500000+02:00", as time.isoformat() prints a tz-aware time. */
function timetzText(ref: string): string {
  const clock = `substring(${ref}::text FROM '^[0-9:.]+')`;
  const offset = `substring(${ref}::text FROM '[+-][0-9:]+$')`;
  return `${sixDigits(clock)} || CASE WHEN length(${offset}) = 3 THEN ${offset} || ':00' ELSE ${offset} END`;
}

/**
 * Geometric values as Elastic writes them: str() of asyncpg's tuples, e.g. point "(1.5, 2.0)",
 * box "[(1.0, 1.0), (0.0, 0.0)]", path "open [...]". Built from PostgreSQL's text: integral
 * numbers gain ".0" (Python's float repr), commas a space, and the brackets change per type.
 */
function geometricText(ref: string, type: string): string {
  const floats = `regexp_replace(${ref}::text, '(^|[^0-9.e+-])(-?[0-9]+)(?=[,)\\]>}])', '\\1\\2.0', 'g')`;
  const t = `replace(${floats}, ',', ', ')`;
  const inner = `substr(${t}, 2, length(${t}) - 2)`;
  switch (type) {
    case "box":
      return `'[' || ${t} || ']'`;
    case "path":
      return `CASE WHEN left(${t}, 1) = '[' THEN 'open ' || ${t} ELSE 'closed [' || ${inner} || ']' END`;
    case "polygon":
      return `'[' || ${inner} || ']'`;
    case "circle":
    case "line":
      return `'(' || ${inner} || ')'`;
    default:
      return t; // point, lseg: already Python's form
  }
}

/**
 * A key column as text, the way its type's output function prints it (as pgoutput sends it):
 * `char(n)` keeps its padding and `inet` has no `/32` for a host (casts to text differ on both).
 */
export function keyExpression(column: ColumnInfo | undefined, ref: string): string {
  if (column === undefined || column.isArray) return `${ref}::text`;
  if (column.typeName === "bpchar") return `bpcharout(${ref})::text`;
  if (column.typeName === "inet") return `format('%s', ${ref})`;
  return `${ref}::text`;
}
