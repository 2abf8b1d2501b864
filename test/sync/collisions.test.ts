import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("collide");
const indices: string[] = [];

function newIndex(): string {
  const index = uniqueName("search-collide");
  indices.push(index);
  return index;
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".pairs (a text, b text, v int, PRIMARY KEY (a, b));
    INSERT INTO "${schema}".pairs VALUES ('x_y', 'z', 1), ('x', 'y_z', 2), ('p', 'q', 3);
    CREATE TABLE "${schema}".cased (id int PRIMARY KEY, "Name" text, name text);
    INSERT INTO "${schema}".cased VALUES (1, 'upper', 'lower');
    CREATE TABLE "${schema}".people (id int PRIMARY KEY, team text, nick text);
    INSERT INTO "${schema}".people VALUES (1, 'red', 'a'), (2, 'red', 'b'), (3, NULL, 'c'), (4, NULL, 'd');
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  for (const index of indices) await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

describe("two rows, one _id; two columns, one field: reported, never silently merged", () => {
  it("composite keys ('x_y','z') and ('x','y_z') keep their first document and report both keys", async () => {
    const index = newIndex();
    const result = await runTestSync({ index, es, source: sourceConfig({ schema, tables: "pairs" }) });
    const id = `${stack.pgDatabase()}_${schema}_pairs_x_y_z`;
    expect(result.collisions.map((c) => [c.kind, c.target, c.first, c.second])).toEqual([
      ["id", id, '["x","y_z"]', '["x_y","z"]'],
    ]);
    const docs = await allDocuments(es, index);
    expect(docs.size).toBe(2);
    expect(docs.get(id)?.[`${schema}_pairs_v`]).toBe(2); // the first row read (key order) keeps it
  });

  it("the CLI exits 3 naming both keys", async () => {
    const config = writeStackConfig({ index: newIndex(), schema, extra: ["  tables: pairs"] });
    const run = await runCliAsync("sync", "--config", config);
    expect(run.status).toBe(3);
    expect(run.stdout).toContain('rows with keys ["x","y_z"] and ["x_y","z"]');
  });

  it('columns "Name" and name (one compat field) are reported by name', async () => {
    const result = await runTestSync({
      index: newIndex(),
      es,
      source: sourceConfig({ schema, tables: "cased" }),
    });
    expect(result.collisions.map((c) => [c.kind, c.target, c.first, c.second])).toEqual([
      ["field", `${schema}_cased_name`, "Name", "name"],
    ]);
  });

  it("an advanced rule whose id_columns repeat, or are NULL, reports each merged row", async () => {
    const result = await runTestSync({
      index: newIndex(),
      es,
      source: sourceConfig({ schema }),
      advanced: [
        {
          tables: ["people"],
          query: `SELECT team, nick FROM "${schema}".people ORDER BY id`,
          id_columns: ["team"],
        },
      ],
    });
    expect(result.collisions.map((c) => [c.first, c.second])).toEqual([
      ['["red"]', '["red"]'],
      ["[null]", "[null]"],
    ]);
  });

  it("clean mode ids cannot collide: every row of the composite keys is its own document", async () => {
    const index = newIndex();
    const result = await runTestSync({
      index,
      es,
      source: sourceConfig({ schema, tables: "pairs", document_mode: "clean" }),
    });
    expect(result.collisions).toEqual([]);
    expect((await allDocuments(es, index)).size).toBe(3);
  });
});
