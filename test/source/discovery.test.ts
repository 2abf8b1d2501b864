import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { prepareRules } from "../../src/sync/prepare.js";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
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
const schema = uniqueName("discovery");
const indexPrefix = uniqueName("search-discovery");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await createReferenceTables(admin, schema);
  await admin.query(`
    CREATE TABLE "${schema}".no_pk (a int, b text);
    INSERT INTO "${schema}".no_pk VALUES (1, 'x');
    CREATE TABLE "${schema}".composite (region text, num int, label text, PRIMARY KEY (num, region));
    INSERT INTO "${schema}".composite VALUES ('eu', 1, 'one'), ('us', 1, 'uno'), ('eu', 2, 'two');
    CREATE TABLE "${schema}".measurement (id int, at date, v int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE "${schema}".measurement_2023 PARTITION OF "${schema}".measurement FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
    CREATE TABLE "${schema}".measurement_2024 PARTITION OF "${schema}".measurement FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    INSERT INTO "${schema}".measurement VALUES (1, '2023-05-01', 10), (2, '2024-05-01', 20);
    CREATE VIEW "${schema}".adults AS SELECT emp_id, name FROM "${schema}".employee WHERE age > 25;
    CREATE TABLE "${schema}"."Mixed ""Case""" (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}"."Mixed ""Case""" VALUES (1, 'quoted');
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${indexPrefix}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

async function plan(overrides: Record<string, unknown>, advanced: unknown = []) {
  const config = sourceConfig({ schema, ...overrides });
  const rules = await prepareRules({ basic: [], advanced });
  return new PostgresSource(config, connectionFactory(config)).plan(rules.advanced);
}

describe("table discovery", () => {
  it('"*" syncs every table with a primary key, each partition as a table (compat), skips the rest with a reason', async () => {
    const result = await plan({ tables: "*" });
    expect(result.streams.map((s) => s.id).sort()).toEqual(
      [
        `${schema}.Mixed "Case"`,
        `${schema}.composite`,
        `${schema}.customer`,
        `${schema}.employee`,
        `${schema}.measurement_2023`,
        `${schema}.measurement_2024`,
      ].sort(),
    );
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        { table: `${schema}.no_pk`, reason: expect.stringMatching(/no primary key/) as unknown },
        { table: `${schema}.adults`, reason: expect.stringMatching(/view.*id_columns/) as unknown },
        { table: `${schema}.measurement`, reason: expect.stringMatching(/partitions are synced/) as unknown },
      ]),
    );
  });

  it("clean mode reads a partitioned table once, through its parent", async () => {
    const result = await plan({ tables: "*", document_mode: "clean" });
    const ids = result.streams.map((s) => s.id);
    expect(ids).toContain(`${schema}.measurement`);
    expect(ids.filter((id) => id.includes("measurement_"))).toEqual([]);
  });

  it("an explicit list syncs only those tables", async () => {
    const result = await plan({ tables: "employee, composite" });
    expect(result.streams.map((s) => s.id).sort()).toEqual([`${schema}.composite`, `${schema}.employee`]);
  });

  it("unknown tables are reported by name", async () => {
    await expect(plan({ tables: "employee, nope, missing_too" })).rejects.toThrow(/nope, missing_too/);
  });

  it("composite primary keys keep their key order in ids", async () => {
    const index = `${indexPrefix}-composite`;
    const result = await runTestSync({ index, source: sourceConfig({ schema, tables: "composite" }), es });
    expect(result.status).toBe("completed");
    const ids = [...(await allDocuments(es, index)).keys()].sort();
    // PRIMARY KEY (num, region): num first.
    const db = stack.pgDatabase();
    expect(ids).toEqual([
      `${db}_${schema}_composite_1_eu`,
      `${db}_${schema}_composite_1_us`,
      `${db}_${schema}_composite_2_eu`,
    ]);
  });

  it("a partitioned table's rows are indexed under each partition's name, with Elastic's ids (compat)", async () => {
    const index = `${indexPrefix}-partitioned`;
    await runTestSync({ index, source: sourceConfig({ schema }), es });
    const docs = [...(await allDocuments(es, index)).entries()].filter(([, d]) =>
      String(d.table).startsWith("measurement"),
    );
    const db = stack.pgDatabase();
    expect(docs.map(([id, d]) => [id, d[`${schema}_${String(d.table)}_v`]]).sort()).toEqual([
      [`${db}_${schema}_measurement_2023_1_2023-05-01`, 10],
      [`${db}_${schema}_measurement_2024_2_2024-05-01`, 20],
    ]);
  });

  it("a partitioned table's rows are indexed once, under the parent's name (clean mode)", async () => {
    const index = `${indexPrefix}-partitioned-clean`;
    await runTestSync({
      index,
      source: sourceConfig({ schema, tables: "measurement", document_mode: "clean" }),
      es,
    });
    const docs = await bookkeeping(es, index);
    expect(docs.size).toBe(2);
    for (const doc of docs.values()) expect(doc.source).toBe(`${schema}.measurement`);
  });

  it("identifiers with quotes and mixed case are quoted, never pasted", async () => {
    const index = `${indexPrefix}-quoted`;
    const result = await runTestSync({ index, source: sourceConfig({ schema, tables: 'Mixed "Case"' }), es });
    expect(result.status).toBe("completed");
    const docs = [...(await allDocuments(es, index)).values()];
    expect(docs[0]?.[`${schema}_mixed "case"_v`]).toBe("quoted");
  });
});

describe("advanced sync rules (the reference's examples)", () => {
  const db = (): string => stack.pgDatabase();

  async function syncRules(name: string, advanced: unknown) {
    const index = `${indexPrefix}-${name}`;
    const result = await runTestSync({ index, source: sourceConfig({ schema }), es, advanced });
    expect(result.status).toBe("completed");
    return allDocuments(es, index);
  }

  it("example 1: several queries, one per table", async () => {
    const docs = await syncRules("adv1", [
      { tables: ["employee"], query: "SELECT * FROM employee" },
      { tables: ["customer"], query: "SELECT * FROM customer" },
    ]);
    expect(docs.size).toBe(6);
    expect(docs.get(`${db()}_${schema}_employee_10`)).toMatchObject({
      [`${schema}_employee_name`]: "Jane",
      table: ["employee"],
    });
    expect(docs.get(`${db()}_${schema}_customer_6`)).toMatchObject({ [`${schema}_customer_name`]: "Pine" });
  });

  it("example 1 with id_columns", async () => {
    const docs = await syncRules("adv1ids", [
      { tables: ["employee"], query: "SELECT * FROM employee", id_columns: ["emp_id"] },
      { tables: ["customer"], query: "SELECT * FROM customer", id_columns: ["c_id"] },
    ]);
    expect([...docs.keys()].sort()).toEqual(
      [3, 10, 14]
        .map((i) => `${db()}_${schema}_employee_${i}`)
        .concat([2, 6, 9].map((i) => `${db()}_${schema}_customer_${i}`))
        .sort(),
    );
  });

  it("example 2: a WHERE clause", async () => {
    const docs = await syncRules("adv2", [
      { tables: ["employee"], query: "SELECT * FROM employee WHERE emp_id > 5" },
    ]);
    expect([...docs.keys()].sort()).toEqual([
      `${db()}_${schema}_employee_10`,
      `${db()}_${schema}_employee_14`,
    ]);
  });

  it("example 3: a JOIN of two tables", async () => {
    await admin.query(`INSERT INTO "${schema}".customer VALUES (3, 'Ash', 40) ON CONFLICT DO NOTHING`);
    try {
      const docs = await syncRules("adv3", [
        {
          tables: ["employee", "customer"],
          query: "SELECT * FROM employee INNER JOIN customer ON employee.emp_id = customer.c_id",
        },
      ]);
      // Keys are both tables' primary keys; fields use both tables' names, sorted.
      const doc = docs.get(`${db()}_${schema}_customer_employee_3_3`);
      expect(doc).toMatchObject({
        [`${schema}_customer_employee_emp_id`]: 3,
        [`${schema}_customer_employee_c_id`]: 3,
        // Duplicate column names collapse to the last one, as in the reference.
        [`${schema}_customer_employee_name`]: "Ash",
        table: ["employee", "customer"],
      });
      expect(docs.size).toBe(1);
    } finally {
      await admin.query(`DELETE FROM "${schema}".customer WHERE c_id = 3`);
    }
  });

  it("a view is synced through id_columns", async () => {
    const docs = await syncRules("view", [
      { tables: ["adults"], query: "SELECT * FROM adults", id_columns: ["emp_id"] },
    ]);
    expect([...docs.keys()].sort()).toEqual([`${db()}_${schema}_adults_10`, `${db()}_${schema}_adults_3`]);
  });

  it("rejects unknown tables, id columns missing from the result, and failing queries, naming the rule", async () => {
    await expect(plan({}, [{ tables: ["nope"], query: "SELECT 1" }])).rejects.toThrow(/advanced\[0\].*nope/);
    await expect(
      plan({}, [
        { tables: ["employee"], query: "SELECT * FROM employee" },
        { tables: ["employee"], query: "SELECT name FROM employee", id_columns: ["emp_id"] },
      ]),
    ).rejects.toThrow(/advanced\[1\].*emp_id/);
    await expect(plan({}, [{ tables: ["employee"], query: "SELECT nope FROM employee" }])).rejects.toThrow(
      /advanced\[0\].*nope/,
    );
  });

  it("rejects data-modifying queries before running anything", async () => {
    for (const query of [
      "DELETE FROM employee",
      "WITH gone AS (DELETE FROM employee RETURNING *) SELECT * FROM gone",
      "SELECT * FROM employee; DROP TABLE employee",
      "UPDATE employee SET age = 1",
    ]) {
      await expect(
        prepareRules({ basic: [], advanced: [{ tables: ["employee"], query }] }),
        query,
      ).rejects.toThrow(/advanced\[0\]/);
    }
    const count = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".employee`);
    expect(count.rows[0]).toEqual({ n: 3 });
  });
});
