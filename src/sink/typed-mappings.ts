import type { ColumnInfo } from "../source/catalog.js";
import type { SourceStream } from "../source/plan.js";

/**
 * Elasticsearch field types derived from PostgreSQL column types (`sync.mappings: typed`, the
 * default): put before the first document, so no value PostgreSQL can hold is refused because
 * an earlier document decided the field's type (dynamic mapping maps a first `10` as long, then
 * refuses 2.5's successor 1e29). docs/configuration.md lists the table.
 *
 * Only types the smallest distribution has: no scaled_float (mapper-extras), no geo_shape.
 * `ignore_malformed` keeps a document whose value the type cannot parse (NaN, 'infinity' in
 * clean mode): the value stays in _source, unindexed, instead of the whole row being refused.
 */
const LENIENT = { ignore_malformed: true };
const TEXT = { type: "text", fields: { keyword: { type: "keyword", ignore_above: 256 } } };
const KEYWORD = { type: "keyword" };
const DATE = {
  type: "date",
  format: "strict_date_optional_time_nanos||strict_date_optional_time",
  ...LENIENT,
};

const BY_TYPE: Record<string, Record<string, unknown>> = {
  int2: { type: "short", ...LENIENT },
  int4: { type: "integer", ...LENIENT },
  int8: { type: "long", ...LENIENT },
  oid: { type: "long", ...LENIENT },
  float4: { type: "float", ...LENIENT },
  float8: { type: "double", ...LENIENT },
  // Never an integer type: a first value 10 must not truncate 2.5. Double holds every numeric's
  // magnitude (search precision 15-17 digits); _source keeps the exact digits.
  numeric: { type: "double", ...LENIENT },
  bool: { type: "boolean" },
  date: DATE,
  timestamp: DATE,
  timestamptz: DATE,
  text: TEXT,
  varchar: TEXT,
  bpchar: TEXT,
  name: KEYWORD,
  xml: { type: "text" },
  tsvector: { type: "text" },
  tsquery: KEYWORD,
  uuid: KEYWORD,
  inet: KEYWORD,
  cidr: KEYWORD,
  macaddr: KEYWORD,
  macaddr8: KEYWORD,
  money: KEYWORD,
  bit: KEYWORD,
  varbit: KEYWORD,
  time: KEYWORD,
  timetz: KEYWORD,
  interval: KEYWORD,
  point: KEYWORD,
  line: KEYWORD,
  lseg: KEYWORD,
  box: KEYWORD,
  path: KEYWORD,
  polygon: KEYWORD,
  circle: KEYWORD,
  bytea: { type: "binary" },
  int4range: { type: "integer_range" },
  int8range: { type: "long_range" },
  numrange: { type: "double_range" },
  daterange: { type: "date_range", format: "strict_date_optional_time" },
  tsrange: { type: "date_range", format: "strict_date_optional_time_nanos||strict_date_optional_time" },
  tstzrange: { type: "date_range", format: "strict_date_optional_time_nanos||strict_date_optional_time" },
};

/** Array elements are rendered by PostgreSQL as is: only types whose text the mapping accepts. */
const ARRAY_SAFE = new Set([
  "int2",
  "int4",
  "int8",
  "float4",
  "float8",
  "numeric",
  "bool",
  "text",
  "varchar",
  "uuid",
]);

/**
 * The mapping of one column, or undefined to leave it to dynamic mapping (json/jsonb, whose
 * objects map key by key; composite types; PostGIS; pg_lsn).
 */
export function columnMapping(column: ColumnInfo): Record<string, unknown> | undefined {
  if (column.isArray && !ARRAY_SAFE.has(column.typeName)) return undefined;
  if (column.typeKind === "e") return KEYWORD;
  return BY_TYPE[column.typeName];
}

/** Properties for every column of the streams, plus the connector's own fields. */
export function typedMappings(streams: SourceStream[], compat: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    _timestamp: { type: "date" },
    ...(compat ? { id: KEYWORD, database: KEYWORD, schema: KEYWORD, table: KEYWORD } : {}),
  };
  for (const stream of streams) {
    stream.columns.forEach((column, i) => {
      const field = stream.fieldNames[i];
      const mapping = columnMapping(column);
      if (field != null && mapping !== undefined) properties[field] = mapping;
    });
  }
  return properties;
}
