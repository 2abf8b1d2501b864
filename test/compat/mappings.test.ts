import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("typedmap");
const indices: string[] = [];

function newIndex(): string {
  const index = uniqueName("search-typedmap");
  indices.push(index);
  return index;
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  // Row order matters: dynamic mapping would map the field from the first document (10: long).
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".amounts (id int PRIMARY KEY, amount numeric, at timestamptz, label text);
    INSERT INTO "${schema}".amounts VALUES (1, 10, '2024-01-01 00:00:00+00', 'a'),
      (2, 2.5, 'infinity', 'b'), (3, 123456789012345678901234567890, '-infinity', 'c');
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  for (const index of indices) await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

const field = (column: string): string => `${schema}_amounts_${column}`;

describe("typed mappings (sync.mappings: typed, the default)", () => {
  it("a numeric column with rows 10, 2.5 and a 30-digit value indexes all three, searchable as numbers", async () => {
    const index = newIndex();
    const result = await runTestSync({ index, es, source: sourceConfig({ schema }) });
    expect(result.status).toBe("completed");
    expect(result.failures).toEqual([]);
    expect((await allDocuments(es, index)).size).toBe(3);
    const mapping = await es.indices.getMapping({ index });
    const properties = mapping[index]?.mappings.properties ?? {};
    expect(properties[field("amount")]).toMatchObject({ type: "double" });
    expect(properties[field("at")]).toMatchObject({ type: "date" });
    // 2.5 is not truncated: a range between 2 and 3 finds it.
    const hits = await es.search({ index, query: { range: { [field("amount")]: { gt: 2, lt: 3 } } } });
    expect(hits.hits.hits.map((h) => h._id)).toHaveLength(1);
  });

  it("a re-sync of unchanged rows sends nothing, 30-digit numeric included (stored bodies compared byte for byte)", async () => {
    const index = newIndex();
    await runTestSync({ index, es, source: sourceConfig({ schema }) });
    const again = await runTestSync({ index, es, source: sourceConfig({ schema }) });
    expect(again.streams.map((s) => [s.docsSent, s.unchanged])).toEqual([[0, 3]]);
    await admin.query(`UPDATE "${schema}".amounts SET amount = amount + 1 WHERE id = 3`);
    try {
      const changed = await runTestSync({ index, es, source: sourceConfig({ schema }) });
      expect(changed.streams.map((s) => s.docsSent)).toEqual([1]);
    } finally {
      await admin.query(`UPDATE "${schema}".amounts SET amount = amount - 1 WHERE id = 3`);
    }
  });

  it("infinite timestamps are dates Elasticsearch indexes (compat: 9999-12-31..., as Elastic writes)", async () => {
    const index = newIndex();
    await runTestSync({ index, es, source: sourceConfig({ schema }) });
    const hits = await es.search({ index, query: { range: { [field("at")]: { gte: "9999-01-01" } } } });
    expect(hits.hits.hits).toHaveLength(1);
  });

  it("an existing index keeps its fields and gains mappings only for the unmapped ones", async () => {
    const index = newIndex();
    // As Kibana creates it: one field already mapped, as keyword.
    await es.indices.create({ index, mappings: { properties: { [field("label")]: { type: "keyword" } } } });
    const result = await runTestSync({ index, es, source: sourceConfig({ schema }) });
    expect(result.status).toBe("completed");
    const properties = (await es.indices.getMapping({ index }))[index]?.mappings.properties ?? {};
    expect(properties[field("label")]).toEqual({ type: "keyword" });
    expect(properties[field("amount")]).toMatchObject({ type: "double" });
  });

  it("sync.mappings: dynamic leaves the first document to decide, as Elastic's connector does", async () => {
    const index = newIndex();
    const result = await runTestSync({
      index,
      es,
      source: sourceConfig({ schema }),
      sync: { mappings: "dynamic" },
    });
    const properties = (await es.indices.getMapping({ index }))[index]?.mappings.properties ?? {};
    expect(properties[field("amount")]).toMatchObject({ type: "long" });
    expect(result.failures.length).toBeGreaterThan(0);
  });
});
