import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("snaplost");
const index = uniqueName("search-snaplost");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".a (id int PRIMARY KEY, v text);
    CREATE TABLE "${schema}".b (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}".a SELECT g, 'a' || g FROM generate_series(1, 200) g;
    INSERT INTO "${schema}".b SELECT g, 'b' || g FROM generate_series(1, 20000) g;
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index }).catch(() => undefined);
  await admin.end();
  await es.close();
});

describe("a snapshot PostgreSQL ends mid-sync (issue 10.3)", () => {
  it("the sync says so and catches up rows of the tables read before, so 'completed' still means index = tables", async () => {
    let killed = false;
    const result = await runTestSync({
      index,
      source: sourceConfig({ schema }),
      es,
      sync: { parallelTables: 1, batchRows: 50, bulkMaxDocs: 50, bulkConcurrency: 1 },
      request: {
        onProgress: (p) => {
          const a = p.streams.find((s) => s.stream === `${schema}.a`);
          if (killed || a?.state !== "done") return;
          killed = true;
          // Table a is read; the connection holding the exported snapshot dies (as in a restart),
          // while b (large enough to outlast this asynchronous kill) is still being read,
          // and a row of a changes afterwards.
          void admin
            .query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE application_name = 'pgsearch' AND query LIKE '%pg_export_snapshot%'`,
            )
            .then(() =>
              admin.query(`UPDATE "${schema}".a SET v = 'changed after the snapshot' WHERE id = 7`),
            );
        },
      },
    });
    expect(killed).toBe(true);
    expect(result.status).toBe("completed");
    expect(result.warnings.join("\n")).toMatch(/PostgreSQL ended the sync's snapshot/);
    const docs = await allDocuments(es, index);
    expect(docs.size).toBe(20200);
    expect(docs.get(`${stack.pgDatabase()}_${schema}_a_7`)?.[`${schema}_a_v`]).toBe(
      "changed after the snapshot",
    );
  }, 120_000);
});
