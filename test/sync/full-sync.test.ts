import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schemas: string[] = [];
const indexPrefix = uniqueName("search-fullsync");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
});

afterAll(async () => {
  for (const schema of schemas) await dropSchema(admin, schema);
  await es.indices.delete({ index: `${indexPrefix}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

/** Each test gets its own reference tables and index, so none depends on another's leftovers. */
async function fresh(name: string): Promise<{ schema: string; index: string }> {
  const schema = uniqueName(`fullsync_${name}`);
  schemas.push(schema);
  await createReferenceTables(admin, schema);
  return { schema, index: `${indexPrefix}-${name}` };
}

/** The documents Elastic's connector would produce for the employee and customer tables now. */
async function expectedDocuments(schema: string): Promise<Map<string, Record<string, unknown>>> {
  const db = stack.pgDatabase();
  const expected = new Map<string, Record<string, unknown>>();
  for (const [table, key] of [
    ["employee", "emp_id"],
    ["customer", "c_id"],
  ] as const) {
    const rows = await admin.query(`SELECT * FROM "${schema}".${table} ORDER BY 1`);
    for (const row of rows.rows as Record<string, unknown>[]) {
      const id = `${db}_${schema}_${table}_${String(row[key])}`;
      expected.set(id, {
        id,
        database: db,
        schema,
        table,
        [`${schema}_${table}_${key}`]: row[key],
        [`${schema}_${table}_name`]: row.name,
        [`${schema}_${table}_age`]: row.age,
      });
    }
  }
  return expected;
}

function expectIndexEquals(
  actual: Map<string, Record<string, unknown>>,
  expected: Map<string, Record<string, unknown>>,
): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, doc] of expected) {
    expect(actual.get(id), id).toMatchObject(doc);
  }
}

describe("full sync of the reference's employee/customer tables", () => {
  it("indexes every row with the reference's ids and field names, searchable", async () => {
    const { schema, index } = await fresh("all");
    const result = await runTestSync({ index, source: sourceConfig({ schema }), es });
    expect(result.status).toBe("completed");
    expect(result.bulk.created).toBe(6);
    expectIndexEquals(await allDocuments(es, index), await expectedDocuments(schema));

    const hits = await es.search({ index, query: { match: { [`${schema}_employee_name`]: "jane" } } });
    expect(hits.hits.hits.map((h) => h._id)).toEqual([`${stack.pgDatabase()}_${schema}_employee_10`]);
  });

  it("after updates, deletes and inserts a re-sync leaves the index equal to the database", async () => {
    const { schema, index } = await fresh("resync");
    expect((await runTestSync({ index, source: sourceConfig({ schema }), es })).status).toBe("completed");
    await admin.query(`UPDATE "${schema}".employee SET age = 29 WHERE emp_id = 3`);
    await admin.query(`DELETE FROM "${schema}".customer WHERE c_id = 6`);
    await admin.query(`INSERT INTO "${schema}".employee VALUES (20, 'Sam', 41)`);
    const result = await runTestSync({ index, source: sourceConfig({ schema }), es });
    expect(result.status).toBe("completed");
    expect(result.deleted).toBe(1);
    // Unchanged rows are skipped (same text as the stored document): only the updated and the new row are sent.
    expect(result.bulk.created + result.bulk.updated).toBe(2);
    expect(result.streams.reduce((n, s) => n + s.unchanged, 0)).toBe(4);
    expectIndexEquals(await allDocuments(es, index), await expectedDocuments(schema));
  });

  it("a sync canceled after reading, as its delete pass starts, deletes nothing; the next one does", async () => {
    const { schema, index } = await fresh("cancel");
    expect((await runTestSync({ index, source: sourceConfig({ schema }), es })).status).toBe("completed");
    // emp_id 14 is gone from the table but still indexed: a finished sync would delete it.
    await admin.query(`DELETE FROM "${schema}".employee WHERE emp_id = 14`);
    const stale = `${stack.pgDatabase()}_${schema}_employee_14`;
    const controller = new AbortController();
    const phases: string[] = [];
    const result = await runTestSync({
      index,
      source: sourceConfig({ schema }),
      es,
      request: {
        signal: controller.signal,
        onProgress: (p) => {
          phases.push(p.phase);
          if (p.phase === "deleting") controller.abort();
        },
      },
    });
    expect(phases).toContain("deleting");
    expect(result).toMatchObject({ status: "canceled", deleted: 0 });
    expect((await allDocuments(es, index)).has(stale)).toBe(true);
    const next = await runTestSync({ index, source: sourceConfig({ schema }), es });
    expect(next).toMatchObject({ status: "completed", deleted: 1 });
    expectIndexEquals(await allDocuments(es, index), await expectedDocuments(schema));
  });

  it("a table that fails mid-read deletes nothing and says why; the next complete sync removes what it kept", async () => {
    const { schema, index } = await fresh("failing");
    expect((await runTestSync({ index, source: sourceConfig({ schema }), es })).status).toBe("completed");
    await admin.query(`DELETE FROM "${schema}".employee WHERE emp_id = 14`);
    // emp_id 14 is gone from the table but still indexed; the second rule fails on a row.
    const result = await runTestSync({
      index,
      source: sourceConfig({ schema }),
      es,
      advanced: [
        { tables: ["employee"], query: "SELECT * FROM employee" },
        { tables: ["customer"], query: "SELECT c_id, name, age / (c_id - 9) AS age FROM customer" },
      ],
    });
    expect(result.status).toBe("failed");
    expect(result.deleted).toBe(0);
    expect(result.deleteSkippedReason).toMatch(/advanced\[1\], row \["9"\]: division by zero/);
    expect((await allDocuments(es, index)).has(`${stack.pgDatabase()}_${schema}_employee_14`)).toBe(true);

    const next = await runTestSync({ index, source: sourceConfig({ schema }), es });
    expect(next.status).toBe("completed");
    expectIndexEquals(await allDocuments(es, index), await expectedDocuments(schema));
  });

  it("the delete guard refuses to empty most of the index without --allow-mass-delete", async () => {
    const guardIndex = `${indexPrefix}-guard`;
    const bulkSchema = uniqueName("guard");
    await admin.query(`CREATE SCHEMA "${bulkSchema}"; CREATE TABLE "${bulkSchema}".item (id int PRIMARY KEY, v text);
      INSERT INTO "${bulkSchema}".item SELECT g, 'v' || g FROM generate_series(1, 400) g`);
    try {
      const config = sourceConfig({ schema: bulkSchema });
      expect((await runTestSync({ index: guardIndex, source: config, es })).bulk.created).toBe(400);
      await admin.query(`DELETE FROM "${bulkSchema}".item WHERE id > 100`);
      const refused = await runTestSync({ index: guardIndex, source: config, es });
      expect(refused.status).toBe("failed");
      expect(refused.error?.code).toBe("delete_guard");
      expect(await es.count({ index: guardIndex })).toMatchObject({ count: 400 });
      const allowed = await runTestSync({
        index: guardIndex,
        source: config,
        es,
        request: { allowMassDelete: true },
      });
      expect(allowed.deleted).toBe(300);
      expect(allowed.indexCount).toBe(100);
    } finally {
      await dropSchema(admin, bulkSchema);
    }
  });
});
