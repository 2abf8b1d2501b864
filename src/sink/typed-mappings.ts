import type { SourceStream } from "../source/plan.js";

/**
 * Elasticsearch field types derived from PostgreSQL column types (the `sync.mappings: typed`
 * option). Only types the smallest distribution has: no scaled_float (mapper-extras) and no
 * geo_shape (spatial), so numeric maps to double and PostGIS stays a dynamic object.
 */
const BY_TYPE: Record<string, Record<string, unknown>> = {
  int2: { type: "short" },
  int4: { type: "integer" },
  int8: { type: "long" },
  oid: { type: "long" },
  float4: { type: "float" },
  float8: { type: "double" },
  numeric: { type: "double" },
  bool: { type: "boolean" },
  date: { type: "date", format: "strict_date" },
  timestamp: { type: "date", format: "strict_date_optional_time_nanos" },
  timestamptz: { type: "date", format: "strict_date_optional_time_nanos" },
  text: { type: "text", fields: { keyword: { type: "keyword", ignore_above: 256 } } },
  varchar: { type: "text", fields: { keyword: { type: "keyword", ignore_above: 256 } } },
  bpchar: { type: "keyword" },
  uuid: { type: "keyword" },
  inet: { type: "keyword" },
  cidr: { type: "keyword" },
  macaddr: { type: "keyword" },
  money: { type: "keyword" },
  bit: { type: "keyword" },
  varbit: { type: "keyword" },
  bytea: { type: "binary" },
  interval: { type: "keyword" },
  int4range: { type: "integer_range" },
  int8range: { type: "long_range" },
  numrange: { type: "double_range" },
  daterange: { type: "date_range", format: "strict_date" },
  tsrange: { type: "date_range", format: "strict_date_optional_time_nanos" },
  tstzrange: { type: "date_range", format: "strict_date_optional_time_nanos" },
};

/** Properties for every column of the streams, plus the connector's own fields. */
export function typedMappings(streams: SourceStream[], compat: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    _timestamp: { type: "date" },
    ...(compat
      ? {
          id: { type: "keyword" },
          database: { type: "keyword" },
          schema: { type: "keyword" },
          table: { type: "keyword" },
        }
      : {}),
  };
  for (const stream of streams) {
    stream.columns.forEach((column, i) => {
      const field = stream.fieldNames[i];
      const mapping = column.typeKind === "e" ? { type: "keyword" } : BY_TYPE[column.typeName];
      // Enums are keywords; unknown types (json, geometric, composite) stay dynamic.
      if (field != null && mapping !== undefined) properties[field] = mapping;
    });
  }
  return properties;
}
