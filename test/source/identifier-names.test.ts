import type { Client as EsClient } from "@elastic/elasticsearch";
import fc from "fast-check";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

/**
 * Every alias, output name and function the generated SQL uses (src/source/reader.ts), plus SQL
 * keywords: a user's column carrying one of these names must not change what the SQL means.
 */
const SQL_NAMES = [
  "d",
  "doc",
  "key",
  "t",
  "row",
  "commit_ts",
  "s",
  "k0",
  "k1",
  "ts",
  "p0_0",
  "c0",
  "c1",
  "_",
  "q",
  "row_to_json",
  "to_json",
  "json",
  "text",
  "isempty",
  "lower",
  "upper",
  "lower_inc",
  "upper_inc",
  "json_build_object",
  "json_strip_nulls",
  "translate",
  "encode",
  "bpcharout",
  "pg_xact_commit_timestamp",
  "unnest",
  "select",
  "from",
  "where",
  "order",
  "by",
  "as",
  "null",
  "case",
  "when",
  "end",
  "true",
];

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Arbitrary names: quotes, spaces, unicode, punctuation. */
const otherName = fc.oneof(
  fc.constantFrom('a"b', "two words", " lead", "é", "名前", "D d", "x'y", "semi;colon", "per%cent"),
  fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 12 })
    // Elasticsearch reads dots as object paths; PostgreSQL forbids NUL and names over 63 bytes.
    .filter(
      (n) => !n.includes(".") && !n.includes("\u0000") && n.trim() !== "" && Buffer.byteLength(n) <= 63,
    ),
);

/**
 * Every SQL name, each in lower, upper or mixed case, then arbitrary ones; the key column is
 * chosen among them. Names differ even lower-cased (compat field names are lower-cased).
 */
const columnSets = fc
  .tuple(
    fc.array(fc.constantFrom("lower", "upper", "mixed"), {
      minLength: SQL_NAMES.length,
      maxLength: SQL_NAMES.length,
    }),
    fc.array(otherName, { maxLength: 4 }),
    fc.nat(),
  )
  .map(([cases, others, keyAt]) => {
    const sqlNames = SQL_NAMES.map((n, i) =>
      cases[i] === "upper"
        ? n.toUpperCase()
        : cases[i] === "mixed"
          ? `${n.slice(0, 1).toUpperCase()}${n.slice(1)}`
          : n,
    );
    const seen = new Set<string>();
    const all = [...sqlNames, ...others].filter(
      (n) => !seen.has(n.toLowerCase()) && seen.add(n.toLowerCase()),
    );
    const key = all[keyAt % all.length] ?? "d";
    return [key, ...all.filter((n) => n !== key)];
  });

let admin: pg.Client;
let es: EsClient;
const schemas: string[] = [];
const indices: string[] = [];

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
});

afterAll(async () => {
  for (const schema of schemas) await dropSchema(admin, schema);
  for (const index of indices) await es.indices.delete({ index, ignore_unavailable: true });
  await admin.end();
  await es.close();
});

async function syncTable(
  columns: string[],
  mode: "compat" | "clean",
): Promise<Map<string, Record<string, unknown>>> {
  const schema = uniqueName("names");
  const index = uniqueName("search-names");
  schemas.push(schema);
  indices.push(index);
  // The first column is the primary key; every column holds its own name, row 2 holds NULLs.
  const [first = "", ...rest] = columns;
  await admin.query(`CREATE SCHEMA ${quote(schema)}`);
  await admin.query(
    `CREATE TABLE ${quote(schema)}.${quote("d")} (${columns.map((c) => `${quote(c)} text`).join(", ")}, PRIMARY KEY (${quote(first)}))`,
  );
  await admin.query(
    `INSERT INTO ${quote(schema)}.${quote("d")} VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")}), ($${columns.length + 1}${rest.map(() => ", NULL").join("")})`,
    [...columns, "second"],
  );
  const result = await runTestSync({ index, es, source: sourceConfig({ schema, document_mode: mode }) });
  expect(result.status).toBe("completed");
  return allDocuments(es, index);
}

describe("names used by the generated SQL", () => {
  it("a table with columns d, doc, key, t, row and commit_ts syncs every value", async () => {
    const columns = ["id", "d", "doc", "key", "t", "row", "commit_ts"];
    const docs = await syncTable(columns, "clean");
    const doc = [...docs.values()].find((d) => d.id === "id");
    expect(doc).toMatchObject(Object.fromEntries(columns.map((c) => [c, c])));
  });

  it("never collide with a user's column, whatever its name, in either document mode", async () => {
    await fc.assert(
      fc.asyncProperty(columnSets, fc.constantFrom("compat", "clean"), async (columns, mode) => {
        const docs = await syncTable(columns, mode);
        expect(docs.size).toBe(2);
        const field = (c: string): string =>
          mode === "compat" ? `${schemas.at(-1)}_d_${c}`.toLowerCase() : c;
        const full = [...docs.values()].find((d) => d[field(columns[0] ?? "")] === columns[0]);
        expect(full).toMatchObject(Object.fromEntries(columns.map((c) => [field(c), c])));
        const second = [...docs.values()].find((d) => d[field(columns[0] ?? "")] === "second");
        expect(second).toMatchObject(Object.fromEntries(columns.slice(1).map((c) => [field(c), null])));
      }),
      { numRuns: 12 },
    );
  });
});
