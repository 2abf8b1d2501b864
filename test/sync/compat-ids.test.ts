import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("compatid");
const index = uniqueName("search-compatid");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    SET search_path = "${schema}";
    CREATE TABLE flags (active boolean, at timestamptz, amount numeric, PRIMARY KEY (active, at, amount));
    INSERT INTO flags VALUES (true, '2024-01-02 03:04:05.5+00', 12.50),
                             (false, '2024-01-02 03:04:05+00', 0.00000010);
    CREATE TABLE clocks (local timestamp, t time, tz timetz, f float8, PRIMARY KEY (local, t, tz, f));
    INSERT INTO clocks VALUES ('2024-01-02 03:04:05.12', '03:04:05.000001', '03:04:05+05:30', 1),
                              ('2024-01-02 03:04:05', '03:04:05', '03:04:05-08', 2.5e-7),
                              ('2024-01-03 00:00:00', '00:00:00', '00:00:00+00', 1e16);
    CREATE TABLE codes (code char(4) PRIMARY KEY, label text);
    INSERT INTO codes VALUES ('ab', 'padded'), ('wxyz', 'full');
    CREATE TABLE blobs (k bytea PRIMARY KEY);
    INSERT INTO blobs VALUES ('\\x00616227'), ('abc');
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

describe("compat document ids", () => {
  it("print key values as Python's str() does, so an index written by Elastic's connector keeps its ids", async () => {
    const result = await runTestSync({ index, es, source: sourceConfig({ schema }) });
    expect(result.status).toBe("completed");
    const prefix = `${stack.pgDatabase()}_${schema}_`;
    // Expected values printed by CPython 3.11: str(True), str(datetime(..., tzinfo=utc)),
    // str(Decimal("0.00000010")), str(time(...)), str(1.0), str(2.5e-07), str(1e16), "ab  ".
    const ids = [...(await allDocuments(es, index)).keys()].map((id) => id.slice(prefix.length)).sort();
    expect(ids).toEqual(
      [
        "flags_True_2024-01-02 03:04:05.500000+00:00_12.50",
        "flags_False_2024-01-02 03:04:05+00:00_1.0E-7",
        "clocks_2024-01-02 03:04:05.120000_03:04:05.000001_03:04:05+05:30_1.0",
        "clocks_2024-01-02 03:04:05_03:04:05_03:04:05-08:00_2.5e-07",
        "clocks_2024-01-03 00:00:00_00:00:00_00:00:00+00:00_1e+16",
        "codes_ab  ", // char(4) keeps its padding, as asyncpg returns it
        "codes_wxyz",
        `blobs_b"\\x00ab'"`, // str(bytes([0, 0x61, 0x62, 0x27]))
        "blobs_b'abc'",
      ].sort(),
    );
  });
});
