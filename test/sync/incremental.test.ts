import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { expectItemsIndexed, runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("incremental");
const index = uniqueName("search-incremental");
const ROWS = 5000;

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".item (id int PRIMARY KEY, name text, qty int);
    INSERT INTO "${schema}".item SELECT g, 'item ' || g, g % 10 FROM generate_series(1, ${ROWS}) g;
  `);
  // Let these commits fall outside the 10 s overlap the next incremental sync re-reads.
  await new Promise((resolve) => setTimeout(resolve, 11_000));
}, 60_000);

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index }).catch(() => undefined);
  await es.delete({ index: "pgsearch-state", id: index }).catch(() => undefined);
  await admin.end();
  await es.close();
});

describe("incremental syncs (track_commit_timestamp = on)", () => {
  it("the first incremental sync has no cursor and reads everything, saying so", async () => {
    const result = await runTestSync({ index, source: sourceConfig({ schema }), es, jobType: "incremental" });
    expect(result.status).toBe("completed");
    expect(result.warnings).toEqual([expect.stringMatching(/no previous sync cursor/) as unknown]);
    expect(result.bulk.created).toBe(ROWS);
  });

  it("then reads and sends only rows committed since, and removes deleted rows", async () => {
    await admin.query(`UPDATE "${schema}".item SET qty = 99 WHERE id IN (1, 2, 3)`);
    await admin.query(`INSERT INTO "${schema}".item VALUES (${ROWS + 1}, 'new', 1)`);
    await admin.query(`DELETE FROM "${schema}".item WHERE id IN (10, 11)`);
    const result = await runTestSync({ index, source: sourceConfig({ schema }), es, jobType: "incremental" });
    expect(result.status).toBe("completed");
    expect(result.warnings).toEqual([]);
    const stream = result.streams[0];
    console.log(`incremental sync read ${stream?.rowsRead} of ${ROWS} rows`);
    expect(stream?.rowsRead).toBe(4);
    expect(result.bulk.updated).toBe(3);
    expect(result.bulk.created).toBe(1);
    expect(result.deleted).toBe(2);
    await expectItemsIndexed(es, admin, schema, index);
  });
});
