import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("types");
const index = uniqueName("search-types");
let postgis = false;

/** The document's _source exactly as Elasticsearch stores it (raw text, so big numbers stay exact). */
async function rawSource(id: string): Promise<string> {
  const response = await fetch(`${stack.esUrl()}/${index}/_source/${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return response.text();
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  postgis =
    (await admin.query("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).rowCount === 1;
  if (postgis) await admin.query("CREATE EXTENSION IF NOT EXISTS postgis");
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TYPE "${schema}".mood AS ENUM ('sad', 'happy');
    CREATE TABLE "${schema}".t (
      id integer PRIMARY KEY,
      c_smallint smallint, c_bigint bigint, c_numeric numeric(30,4), c_numeric_nan numeric,
      c_real real, c_double double precision, c_double_nan double precision,
      c_text text, c_varchar varchar(10), c_char char(3), c_bool boolean,
      c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz,
      c_interval interval, c_int4range int4range, c_tstzrange tstzrange, c_empty_range int4range, c_numrange numrange,
      c_int_array integer[], c_text_array text[], c_json json, c_jsonb jsonb, c_bytea bytea,
      c_uuid uuid, c_inet inet, c_cidr cidr, c_macaddr macaddr, c_enum "${schema}".mood,
      c_bit bit(4), c_varbit varbit, c_money money, c_point point, c_box box, c_circle circle,
      c_tsvector tsvector, c_xml xml, c_null text
      ${postgis ? ", c_geometry geometry(Point, 4326), c_geography geography" : ""}
    );
    INSERT INTO "${schema}".t VALUES (
      1, 7, 9223372036854775807, 12345678901234567891234.5678, 'NaN',
      1.5, 0.1, 'NaN',
      'héllo "quoted"', 'vc', 'ab', true,
      '2024-02-29', '13:14:15.5', '13:14:15+02', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+02',
      '1 year 2 months 3 days 04:05:06', '[1,10)', '[2024-01-01 00:00:00+00,)', 'empty', '(1.5,2.5]',
      '{{1,2},{3,4}}', ARRAY['a', NULL, 'c'], '{"a": [1.5, 2.50], "b": null}', '{"n": 1234567890123456789}', '\\x0102ff',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.1.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 'happy',
      B'1010', B'101', 12.5, '(1,2)', '((0,0),(1,1))', '<(0,0),5>',
      'a fat cat', '<a>x</a>', NULL
      ${postgis ? ", ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), 'POINT(2 3)'::geography" : ""}
    );
  `);
  const result = await runTestSync({ index, source: sourceConfig({ schema }), es });
  expect(result.streams.map((s) => s.error)).toEqual([undefined]);
  expect(result.error?.message).toBeUndefined();
  expect(result.failures).toEqual([]);
  expect(result.bulk.created).toBe(1);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index }).catch(() => undefined);
  await admin.end();
  await es.close();
});

describe("every built-in type becomes a faithful JSON value", () => {
  const id = (): string => `${stack.pgDatabase()}_${schema}_t_1`;
  const field = (column: string): string => `${schema}_t_${column}`;

  it("keeps int8 and numeric digits exactly (no float rounding)", async () => {
    const raw = await rawSource(id());
    expect(raw).toContain(`"${field("c_bigint")}":9223372036854775807`);
    expect(raw).toContain(`"${field("c_numeric")}":12345678901234567891234.5678`);
    expect(raw).toContain(`"${field("c_numeric_nan")}":"NaN"`);
    expect(raw).toContain(`"${field("c_double_nan")}":"NaN"`);
    expect(raw).toContain(`"n": 1234567890123456789`);
  });

  it("renders every other type as documented in docs/configuration.md (compat forms)", async () => {
    const doc = (await es.get<Record<string, unknown>>({ index, id: id() }))._source ?? {};
    const expected: Record<string, unknown> = {
      c_smallint: 7,
      c_real: 1.5,
      c_double: 0.1,
      c_text: 'héllo "quoted"',
      c_varchar: "vc",
      c_char: "ab ",
      c_bool: true,
      c_date: "2024-02-29",
      c_time: "13:14:15.500000", // compat: Python's isoformat, six digits
      c_timetz: "13:14:15+02:00",
      c_timestamp: "2024-02-29T13:14:15.123456",
      c_timestamptz: "2024-02-29T11:14:15+00:00",
      c_interval: "P1Y2M3DT4H5M6S",
      c_int4range: { gte: 1, lt: 10 },
      c_tstzrange: { gte: "2024-01-01T00:00:00+00:00" },
      c_empty_range: {},
      c_numrange: { gt: 1.5, lte: 2.5 },
      c_int_array: [
        [1, 2],
        [3, 4],
      ],
      c_text_array: ["a", null, "c"],
      c_json: { a: [1.5, 2.5], b: null },
      c_bytea: "AQL/",
      c_uuid: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
      c_inet: "192.168.1.1/24",
      c_cidr: "10.0.0.0/8",
      c_macaddr: "08:00:2b:01:02:03",
      c_enum: "happy",
      c_bit: "1010",
      c_varbit: "101",
      c_money: "$12.50",
      c_point: "(1.0, 2.0)", // compat: str() of asyncpg's Point
      c_box: "[(1.0, 1.0), (0.0, 0.0)]",
      c_circle: "((0.0, 0.0), 5.0)",
      c_tsvector: "'a' 'cat' 'fat'",
      c_xml: "<a>x</a>",
      c_null: null,
    };
    const actual = Object.fromEntries(Object.keys(expected).map((column) => [column, doc[field(column)]]));
    expect(actual).toEqual(expected);
    expect(doc).toMatchObject({ id: id(), table: "t", schema, database: stack.pgDatabase() });
    expect(typeof doc._timestamp).toBe("string");
  });

  it("renders PostGIS geometry and geography as GeoJSON (skipped when the postgis package is not installed)", async (ctx) => {
    if (!postgis) {
      ctx.skip();
      return;
    }
    const doc = (await es.get<Record<string, unknown>>({ index, id: id() }))._source ?? {};
    expect(doc[field("c_geometry")]).toEqual({ type: "Point", coordinates: [13.4, 52.5] });
    expect(doc[field("c_geography")]).toEqual({ type: "Point", coordinates: [2, 3] });
  });
});
