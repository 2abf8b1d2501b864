import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("shortcut");
const index = uniqueName("search-shortcut");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".item (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}".item SELECT g, 'v' || g FROM generate_series(1, 300) g`);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

async function indexedIds(): Promise<string[]> {
  await es.indices.refresh({ index });
  const result = await es.search({ index, size: 1000, _source: false });
  return result.hits.hits.map((h) => h._id ?? "").sort();
}

describe("a re-sync whose index holds only the rows it read skips the delete pass", () => {
  it("an unchanged table: nothing sent, nothing deleted, and the result says why", async () => {
    const config = sourceConfig({ schema });
    expect((await runTestSync({ index, source: config, es })).bulk.created).toBe(300);
    const again = await runTestSync({ index, source: config, es });
    expect(again.status).toBe("completed");
    expect(again.bulk.bytesSent).toBe(0);
    expect(again.deleted).toBe(0);
    expect(again.deleteSkippedReason).toMatch(/every document in the index is a row this sync read/);
    expect(again.indexCount).toBe(300);
  });

  it("deleted rows and a document no row wrote are still removed (the counts differ)", async () => {
    const config = sourceConfig({ schema });
    const before = await indexedIds();
    await admin.query(`DELETE FROM "${schema}".item WHERE id IN (5, 6, 7)`);
    // Same number of documents as rows after the delete would be 297; a stray one makes it differ too.
    await es.index({ index, id: "written-by-another-tool", document: { v: "stray" }, refresh: true });
    const result = await runTestSync({ index, source: config, es });
    expect(result.status).toBe("completed");
    expect(result.deleteSkippedReason).toBeUndefined();
    expect(result.deleted).toBe(4);
    const expected = before.filter((id) => !/_item_[567]$/.test(id));
    expect(await indexedIds()).toEqual(expected);
  });

  it("an update replacing a deleted row keeps the count equal yet the stale document is found", async () => {
    const config = sourceConfig({ schema });
    // One row gone, one new: 297 rows, 297 documents before the sync writes the new one.
    await admin.query(
      `DELETE FROM "${schema}".item WHERE id = 10; INSERT INTO "${schema}".item VALUES (1000, 'new')`,
    );
    const result = await runTestSync({ index, source: config, es });
    expect(result.deleted).toBe(1);
    const ids = await indexedIds();
    expect(ids.some((id) => id.endsWith("_item_10"))).toBe(false);
    expect(ids.some((id) => id.endsWith("_item_1000"))).toBe(true);
    expect(ids).toHaveLength(297);
  });
});
