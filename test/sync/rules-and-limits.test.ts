import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BasicRuleEngine, validateBasicRules } from "../../src/rules/basic.js";
import { dropSchema } from "../helpers/fixtures.js";
import {
  adminClient,
  allDocuments,
  bookkeeping,
  esClient,
  sourceConfig,
  stack,
  uniqueName,
} from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("rules");
const indexPrefix = uniqueName("search-rules");
const field = (column: string): string => `${schema}_item_${column}`;

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".item (id int PRIMARY KEY, name text, city varchar(20), qty int, price numeric(8,2), tags text[]);
    INSERT INTO "${schema}".item
      SELECT g, (ARRAY['alpha', 'beta', 'gamma', 'delta', NULL])[1 + g % 5] || '-' || g,
             (ARRAY['Hamburg', 'Berlin', 'Bonn', NULL])[1 + g % 4], g % 50, (g % 300) / 3.0, ARRAY['t' || g % 3]
      FROM generate_series(1, 500) g;
    CREATE TABLE "${schema}".blob (id int PRIMARY KEY, body text);
    INSERT INTO "${schema}".blob VALUES (1, 'small'), (2, repeat('x', 3000)), (3, 'also small');
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${indexPrefix}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

const rule = (id: string, f: string, op: string, value: string, policy: string, order: number) => ({
  id,
  field: field(f),
  rule: op,
  value,
  policy,
  order,
});

describe("basic rules pushed down into SQL give exactly the in-memory result", () => {
  const chains: [string, unknown[], "sql" | "memory" | "both"][] = [
    ["equals exclude, default include", [rule("a", "city", "equals", "Bonn", "exclude", 1)], "sql"],
    [
      "starts_with / contains / ends_with chain",
      [
        rule("a", "name", "starts_with", "alpha", "include", 1),
        rule("b", "name", "contains", "ta-1", "exclude", 2),
        rule("c", "city", "ends_with", "burg", "exclude", 3),
      ],
      "sql",
    ],
    [
      "numbers: < and > with first match wins",
      [rule("a", "qty", "<", "10", "include", 1), rule("b", "price", ">", "50", "exclude", 2)],
      "sql",
    ],
    ["regex stays in memory", [rule("a", "name", "regex", "(beta|gamma)-1", "exclude", 1)], "memory"],
    [
      "a translatable prefix in SQL, the regex after it in memory",
      [
        rule("a", "city", "equals", "Bonn", "exclude", 1),
        rule("b", "name", "regex", "(beta|gamma)-1", "exclude", 2),
      ],
      "both",
    ],
  ];
  for (const [name, rules, where] of chains) {
    it(name, async () => {
      const index = `${indexPrefix}-${name.replace(/[^a-z]+/g, "-")}`;
      const result = await runTestSync({
        index,
        source: sourceConfig({ schema, tables: "item" }),
        es,
        basic: rules,
      });
      expect(result.status).toBe("completed");
      // Expected: the in-memory engine over every row's document.
      const { rules: valid } = validateBasicRules(rules);
      const engine = new BasicRuleEngine(valid);
      const everything = await runTestSync({
        index: `${index}-all`,
        source: sourceConfig({ schema, tables: "item" }),
        es,
      });
      const all = await allDocuments(es, `${index}-all`);
      const expected = [...all]
        .filter(([, doc]) => engine.shouldIndex(doc))
        .map(([id]) => id)
        .sort();
      const actual = [...(await allDocuments(es, index)).keys()].sort();
      expect(actual).toEqual(expected);
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(everything.bulk.created);
      const stream = result.streams[0];
      // Pushed down: excluded rows are never read; in memory: every row is read and filtered.
      if (where === "sql") expect(stream?.rowsRead).toBe(expected.length);
      if (where === "memory") expect(stream?.filtered).toBe(500 - expected.length);
      if (where === "both") {
        expect(stream?.rowsRead).toBeLessThan(500);
        expect(stream?.filtered).toBeGreaterThan(0);
        expect((stream?.rowsRead ?? 0) - (stream?.filtered ?? 0)).toBe(expected.length);
      }
    });
  }

  // The delete pass renders documents only when a rule runs in memory (regex); the SQL filter
  // alone decides which keys exist for the other.
  it.for([
    ["in SQL", rule("a", "city", "equals", "Bonn", "exclude", 1)],
    ["in memory", rule("a", "city", "regex", "Bo.n", "exclude", 1)],
  ] as const)("a row that stops matching a rule (%s) is deleted by the next sync", async ([where, r]) => {
    const index = `${indexPrefix}-stops-matching-${where === "in SQL" ? "sql" : "memory"}`;
    const rules = [r];
    await runTestSync({ index, source: sourceConfig({ schema, tables: "item" }), es, basic: rules });
    const id = `${stack.pgDatabase()}_${schema}_item_1`; // city Berlin
    expect((await allDocuments(es, index)).has(id)).toBe(true);
    await admin.query(`UPDATE "${schema}".item SET city = 'Bonn' WHERE id = 1`);
    try {
      const result = await runTestSync({
        index,
        source: sourceConfig({ schema, tables: "item" }),
        es,
        basic: rules,
      });
      expect(result.deleted).toBe(1);
      expect((await allDocuments(es, index)).has(id)).toBe(false);
    } finally {
      await admin.query(`UPDATE "${schema}".item SET city = 'Berlin' WHERE id = 1`);
    }
  });
});

describe("document limits and modes", () => {
  it("a document over max_document_size is not sent, and is reported with its table and key", async () => {
    const index = `${indexPrefix}-oversize`;
    const result = await runTestSync({
      index,
      source: sourceConfig({ schema, tables: "blob", max_document_size: 2048 }),
      es,
    });
    expect(result.status).toBe("completed");
    expect(result.oversize).toEqual([
      {
        stream: `${schema}.blob`,
        key: ["2"],
        id: `${stack.pgDatabase()}_${schema}_blob_2`,
        bytes: expect.any(Number) as unknown,
      },
    ]);
    expect(result.oversize[0]?.bytes).toBeGreaterThan(3000);
    expect([...(await allDocuments(es, index)).keys()].sort()).toEqual(
      [1, 3].map((i) => `${stack.pgDatabase()}_${schema}_blob_${i}`),
    );
  });

  it("typed mappings (sync.mappings: typed) come from the column types", async () => {
    const index = `${indexPrefix}-typed`;
    const result = await runTestSync({
      index,
      source: sourceConfig({ schema, tables: "item" }),
      es,
      sync: { mappings: "typed" },
    });
    expect(result.status).toBe("completed");
    const mapping = await es.indices.getMapping({ index });
    const properties = mapping[index]?.mappings.properties ?? {};
    expect(properties[field("qty")]).toMatchObject({ type: "integer" });
    expect(properties[field("price")]).toMatchObject({ type: "double" });
    expect(properties[field("name")]).toMatchObject({
      type: "text",
      fields: { keyword: { type: "keyword" } },
    });
    expect(properties[field("id")]).toMatchObject({ type: "integer" });
    expect(properties.table).toEqual({ type: "keyword" });
    const cheap = await es.count({ index, query: { range: { [field("price")]: { lt: 1 } } } });
    const rows = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".item WHERE price < 1`,
    );
    expect(cheap.count).toBe(rows.rows[0]?.n);
  });

  it("clean mode: plain column names and an unambiguous id", async () => {
    const index = `${indexPrefix}-clean`;
    await runTestSync({
      index,
      source: sourceConfig({ schema, tables: "blob", document_mode: "clean" }),
      es,
    });
    const docs = await allDocuments(es, index);
    expect(docs.get(`${schema}.blob:["1"]`)).toMatchObject({ id: 1, body: "small" });
    expect((await bookkeeping(es, index)).get(`${schema}.blob:["1"]`)).toMatchObject({
      source: `${schema}.blob`,
    });
    expect(docs.get(`${schema}.blob:["1"]`)).not.toHaveProperty("database");
  });
});
