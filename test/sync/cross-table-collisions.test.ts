import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { crossStreamOverlap } from "../../src/sync/id-overlap.js";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("xcollide");
const indices: string[] = [];

function newIndex(): string {
  const index = uniqueName("search-xcollide");
  indices.push(index);
  return index;
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  // item 'tag_1' and item_tag 1 both print <db>_<schema>_item_tag_1 (as Elastic's connector would);
  // orders (int key) and orders_line cannot share an id: "line" is no integer.
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".item (id text PRIMARY KEY, v int);
    INSERT INTO "${schema}".item VALUES ('tag_1', 1), ('tag_2', 2), ('plain', 3);
    CREATE TABLE "${schema}".item_tag (id int PRIMARY KEY, v int);
    INSERT INTO "${schema}".item_tag VALUES (1, 10), (3, 30);
    CREATE TABLE "${schema}".orders (id int PRIMARY KEY, v int);
    INSERT INTO "${schema}".orders VALUES (1, 100);
    CREATE TABLE "${schema}".orders_line (id int PRIMARY KEY, v int);
    INSERT INTO "${schema}".orders_line VALUES (1, 1000);
    CREATE TABLE "${schema}".note (id text PRIMARY KEY, v int);
    INSERT INTO "${schema}".note VALUES ('x_1', 1);
    CREATE TABLE "${schema}".note_x (id int PRIMARY KEY, v int);
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  for (const index of indices) await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

const db = (): string => stack.pgDatabase();

describe("two tables, one _id (compat ids): reported naming both tables and keys, first row kept", () => {
  it("a full sync keeps one document for item 'tag_1' / item_tag 1 and reports the other row", async () => {
    const index = newIndex();
    const result = await runTestSync({
      index,
      es,
      source: sourceConfig({ schema, tables: "item, item_tag" }),
      sync: { parallelTables: 1 }, // item is read first: its row keeps the document
    });
    const id = `${db()}_${schema}_item_tag_1`;
    expect(result.collisions.map((c) => [c.target, c.firstStream, c.first, c.stream, c.second])).toEqual([
      [id, `${schema}.item`, '["tag_1"]', `${schema}.item_tag`, '["1"]'],
    ]);
    const docs = await allDocuments(es, index);
    // item: tag_1, tag_2, plain; item_tag: 3 (1 collided): 4 documents, tag_1's kept as it was.
    expect(docs.size).toBe(4);
    expect(docs.get(id)).toMatchObject({ table: "item", [`${schema}_item_v`]: 1 });
    expect(docs.get(`${db()}_${schema}_item_tag_3`)).toMatchObject({ table: "item_tag" });
  });

  it("the CLI exits 3 naming both tables and keys; --incremental reports it the same", async () => {
    const config = writeStackConfig({
      index: newIndex(),
      schema,
      extra: ["  tables: item, item_tag", "sync:", "  parallel_tables: 1"],
    });
    const full = await runCliAsync("sync", "--config", config);
    expect(full.status).toBe(3);
    expect(full.stdout).toContain(
      `${schema}.item row with key ["tag_1"] and ${schema}.item_tag row with key ["1"] both become document`,
    );
    await admin.query(
      `UPDATE "${schema}".item_tag SET v = v + 1 WHERE id = 1; UPDATE "${schema}".item SET v = v WHERE id = 'tag_1'`,
    );
    const incremental = await runCliAsync("sync", "--config", config, "--incremental");
    expect(incremental.status).toBe(3);
    expect(incremental.stdout).toContain(`${schema}.item_tag row with key ["1"] both become document`);
  });

  it("an incremental sync that reads only the new row finds the other table's row in the index", async () => {
    // note 'x_1' falls outside the 10 s the incremental sync re-reads: only note_x 1 is read.
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const index = newIndex();
    const source = sourceConfig({ schema, tables: "note, note_x" });
    expect((await runTestSync({ index, es, source })).collisions).toEqual([]);
    await admin.query(`INSERT INTO "${schema}".note_x VALUES (1, 10)`);
    const result = await runTestSync({ index, es, source, jobType: "incremental" });
    expect(result.streams.map((s) => [s.stream, s.rowsRead])).toEqual([
      [`${schema}.note`, 0],
      [`${schema}.note_x`, 1],
    ]);
    const id = `${db()}_${schema}_note_x_1`;
    expect(result.collisions.map((c) => [c.target, c.firstStream, c.first, c.stream, c.second])).toEqual([
      [id, `${schema}.note`, '["x_1"]', `${schema}.note_x`, '["1"]'],
    ]);
    expect((await allDocuments(es, index)).get(id)).toMatchObject({ table: "note", [`${schema}_note_v`]: 1 });
  }, 60_000);

  it("tables whose ids cannot meet (orders, orders_line with integer keys) are not tracked at all", async () => {
    const source = new PostgresSource(sourceConfig({ schema }), connectionFactory(sourceConfig({ schema })));
    const plan = await source.plan([]);
    const overlap = crossStreamOverlap(plan.streams, db(), true);
    expect([...overlap.keys()].sort()).toEqual([
      `${schema}.item`,
      `${schema}.item_tag`,
      `${schema}.note`,
      `${schema}.note_x`,
    ]);
    const itemRows = overlap.get(`${schema}.item`);
    expect(itemRows?.(`${db()}_${schema}_item_tag_1`)).toBe(true);
    expect(itemRows?.(`${db()}_${schema}_item_plain`)).toBe(false); // only ids item_tag could print
    expect(crossStreamOverlap(plan.streams, db(), false).size).toBe(0); // clean ids carry the stream
  });
});
