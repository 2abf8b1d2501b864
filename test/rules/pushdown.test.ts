import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BasicRuleEngine,
  pushDownBasicRules,
  pushDownFilter,
  quoteIdentifier,
  type BasicRule,
  type BasicRuleColumn,
} from "../../src/rules/index.js";
import { afterAll, beforeAll } from "vitest";
import type pg from "pg";
import { adminClient } from "../helpers/stack.js";

/** Column names that need quoting; fields f0..f2 map to them. */
const COLUMN_NAMES = ['na"me', "Select", "x y"];
const FIELDS = ["f0", "f1", "f2", "meta"]; // "meta" is a document field with no column

const textChar = fc.constantFrom("a", "b", "é", "😀", "\uffff", "%", "_", "'", "N");
const text = fc.array(textChar, { maxLength: 4 }).map((cs) => cs.join(""));
const ruleText = fc.array(textChar, { minLength: 1, maxLength: 3 }).map((cs) => cs.join(""));
/** PostgreSQL text output of int/float8/numeric values, NaN and infinities included. */
const numberText = fc.constantFrom(
  "0",
  "1",
  "-1",
  "2",
  "10",
  "1.5",
  "-0.5",
  "100",
  "1e+300",
  "NaN",
  "Infinity",
  "-Infinity",
);
const numberRuleValue = fc.oneof(
  numberText,
  fc.constantFrom("abc", "nan", "inf", "-inf", "1_0", " 2 ", "1e300", "Z", "N", "-", "0x10", "1.50"),
);
const regexValue = fc.constantFrom("a", "a.", "b$", "(a|é)", "[^a]", "\\d", "N");
const OPS = ["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"] as const;

type Kind = BasicRuleColumn["type"];

const scenario = fc
  .record({
    kinds: fc.tuple(
      fc.constantFrom<Kind>("text", "number", "other"),
      fc.constantFrom<Kind>("text", "number", "other"),
      fc.constantFrom<Kind>("text", "number", "other"),
    ),
    rawRules: fc.array(
      fc.record({
        field: fc.constantFrom(...FIELDS),
        op: fc.constantFrom(...OPS),
        textValue: ruleText,
        numberValue: numberRuleValue,
        regex: regexValue,
        policy: fc.constantFrom<"include" | "exclude">("include", "exclude"),
        order: fc.integer({ min: 0, max: 5 }),
      }),
      { maxLength: 6 },
    ),
    rows: fc.array(
      fc.record({
        values: fc.tuple(
          fc.option(fc.oneof(text, numberText), { nil: null }),
          fc.option(fc.oneof(text, numberText), { nil: null }),
          fc.option(fc.oneof(text, numberText), { nil: null }),
        ),
        other: fc.oneof(text, fc.integer({ min: -3, max: 3 }), fc.boolean(), fc.constant(null)),
        hasMeta: fc.boolean(),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    offset: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ kinds, rawRules, rows, offset }) => {
    const columns: BasicRuleColumn[] = kinds.map((type, i) => ({
      field: `f${i}`,
      column: COLUMN_NAMES[i] ?? "",
      type,
    }));
    const rules: BasicRule[] = rawRules.map((r, i) => {
      const kind: Kind | undefined = kinds[Number(r.field.slice(1))];
      const value =
        r.op === "regex" ? r.regex : kind === "number" && r.op !== "contains" ? r.numberValue : r.textValue;
      return { id: `r${i}`, field: r.field, rule: r.op, value, policy: r.policy, order: r.order };
    });
    // A row: the value each column holds in PostgreSQL (text of a text/numeric, JSON of a jsonb).
    const data = rows.map(({ values, other, hasMeta }) => {
      const cells = kinds.map((kind, i): string | null => {
        const raw = values[i] ?? null;
        if (kind === "other") return JSON.stringify(i === 0 ? other : raw);
        if (kind === "number" && raw !== null && !/^-?\d/.test(raw) && !/^(NaN|-?Infinity)$/.test(raw))
          return String(raw.length);
        return raw;
      });
      return { cells, meta: hasMeta ? other : undefined };
    });
    return { columns, rules, data, offset };
  });

/**
 * PostgreSQL itself is the oracle: one query evaluates the pushed condition for every row and
 * renders each row's document with row_to_json, as the reader does; the in-memory engine then
 * decides on that document.
 */
async function decideInPostgres(
  client: pg.Client,
  columns: BasicRuleColumn[],
  data: { cells: (string | null)[]; meta: unknown }[],
  where: string,
  params: unknown[],
  offset: number,
): Promise<{ pass: boolean; doc: Record<string, unknown> }[]> {
  const sqlType = { text: "text", number: "numeric", other: "jsonb" } as const;
  const valueRows = data.map(
    ({ cells }) =>
      `(${cells
        .map(
          (cell, i) =>
            `${cell === null ? "NULL" : client.escapeLiteral(cell)}::${sqlType[columns[i]?.type ?? "other"]}`,
        )
        .join(", ")})`,
  );
  // Placeholders below the offset belong to the caller's query; bind them so the numbering holds.
  const callerParams = Array.from({ length: offset }, (_, i) => `$${i + 1}::text AS caller${i}`);
  const sql =
    `SELECT coalesce(${where}, false) AS pass, row_to_json(t)::text AS doc${callerParams.map((p) => `, ${p}`).join("")} ` +
    `FROM (VALUES ${valueRows.join(", ")}) AS t(${columns.map((c) => quoteIdentifier(c.column)).join(", ")})`;
  const result = await client.query<{ pass: boolean; doc: string }>(sql, [
    ...Array.from({ length: offset }, () => null),
    ...params,
  ]);
  return result.rows.map((row, n) => {
    const rendered = JSON.parse(row.doc) as Record<string, unknown>;
    const doc: Record<string, unknown> = {};
    columns.forEach((c) => (doc[c.field] = rendered[c.column]));
    const meta = data[n]?.meta;
    if (meta !== undefined) doc.meta = meta;
    return { pass: row.pass, doc };
  });
}

describe("pushDownBasicRules against PostgreSQL", () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = await adminClient();
  });
  afterAll(async () => {
    await client.end();
  });

  it("condition AND residual rules decide exactly as all rules in memory (property)", async () => {
    let pushed = 0;
    let partial = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ columns, rules, data, offset }) => {
        const all = new BasicRuleEngine(rules);
        const { where, params, residual } = pushDownBasicRules(rules, columns, offset);
        if (where !== null) pushed++;
        if (where !== null && residual.length > 0) partial++;
        // Placeholders are $offset+1 .. $offset+params.length, each used.
        const used = new Set([...(where ?? "").matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
        expect([...used].sort((a, b) => a - b)).toEqual(params.map((_, i) => offset + i + 1));
        if (where === null) expect(params).toEqual([]);
        const inMemory = new BasicRuleEngine(residual);
        for (const { pass, doc } of await decideInPostgres(
          client,
          columns,
          data,
          where ?? "TRUE",
          params,
          offset,
        )) {
          expect(pass && inMemory.shouldIndex(doc), JSON.stringify({ where, params, residual, doc })).toBe(
            all.shouldIndex(doc),
          );
        }
      }),
      { numRuns: 3000 },
    );
    // The property is not won by never pushing anything down.
    expect(pushed).toBeGreaterThan(300);
    expect(partial).toBeGreaterThan(50);
  });

  it("the sync engine's adapter: exact filters decide alone, partial ones never drop a kept row (property)", async () => {
    let exact = 0;
    let partial = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ columns, rules, data }) => {
        const typeName = { text: "text", number: "numeric", other: "jsonb" } as const;
        const filter = pushDownFilter(
          rules,
          columns.map((c) => ({
            field: c.field,
            ref: quoteIdentifier(c.column),
            typeName: typeName[c.type],
            isArray: false,
          })),
        );
        if (filter === undefined) return;
        if (filter.exact) exact++;
        else partial++;
        const params: unknown[] = [];
        const sql = filter.render((value) => {
          params.push(value);
          return `$${params.length}`;
        });
        const all = new BasicRuleEngine(rules);
        for (const { pass, doc } of await decideInPostgres(client, columns, data, sql, params, 0)) {
          // Exact: SQL decides alone. Otherwise the engine also runs every rule in memory, so
          // SQL must never drop a row the rules keep.
          if (filter.exact) expect(pass, JSON.stringify({ sql, params, doc })).toBe(all.shouldIndex(doc));
          else
            expect(pass && all.shouldIndex(doc), JSON.stringify({ sql, params, doc })).toBe(
              all.shouldIndex(doc),
            );
        }
      }),
      { numRuns: 2000 },
    );
    expect(exact).toBeGreaterThan(40); // about 5% of scenarios push every rule
    expect(partial).toBeGreaterThan(40);
  });
});

describe("pushDownBasicRules (SQL text)", () => {
  const r = (
    id: string,
    field: string,
    rule: BasicRule["rule"],
    value: string,
    policy: BasicRule["policy"],
    order: number,
  ): BasicRule => ({
    id,
    field,
    rule,
    value,
    policy,
    order,
  });
  const cols: BasicRuleColumn[] = [
    { field: "name", column: "name", type: "text" },
    { field: "qty", column: "qty", type: "number" },
    { field: "doc", column: "doc", type: "other" },
  ];

  it("pushes a whole chain as one CASE, values as parameters after the offset", () => {
    const out = pushDownBasicRules(
      [r("a", "name", "starts_with", "al", "include", 1), r("b", "qty", ">", "5", "exclude", 2)],
      cols,
      2,
    );
    expect(out.residual).toEqual([]);
    expect(out.params).toEqual(["al", "5", 5]);
    expect(out.where).toBe(
      `(CASE WHEN starts_with("name"::text, ($3::text COLLATE "C")) THEN TRUE ` +
        `WHEN (CASE WHEN "qty"::text IN ('NaN', 'Infinity', '-Infinity') THEN "qty"::text > ($4::text COLLATE "C") ` +
        `ELSE "qty"::text::float8 > $5::float8 END) THEN FALSE ELSE TRUE END)`,
    );
  });

  it("stops at the first rule it cannot translate and keeps the prefix's includes in memory", () => {
    const rules = [
      r("x1", "name", "equals", "bad", "exclude", 1),
      r("i1", "name", "contains", "ok", "include", 2),
      r("x2", "qty", "<", "0", "exclude", 3),
      r("re", "name", "regex", "a+", "exclude", 4), // regex: never pushed
      r("x3", "name", "ends_with", "z", "exclude", 5), // after it: stays in memory
    ];
    const out = pushDownBasicRules(rules, cols);
    expect(out.where).toContain('"name"::text = ($1::text COLLATE "C")');
    expect(out.where).not.toContain("ends_with");
    expect(out.residual.map((x) => x.id)).toEqual(["i1", "re", "x3"]);
  });

  it("drops include rules after the last exclude: they cannot change a decision", () => {
    const out = pushDownBasicRules(
      [r("x", "name", "equals", "a", "exclude", 1), r("i", "name", "regex", "b", "include", 2)],
      cols,
    );
    expect(out.residual).toEqual([]);
    expect(out.where).not.toBeNull();
  });

  it("pushes nothing for rules on unknown fields, 'other' columns, or without an exclude", () => {
    for (const rules of [
      [r("a", "missing", "equals", "x", "exclude", 1)],
      [r("a", "doc", "equals", "x", "exclude", 1)],
      [r("a", "name", ">", "x", "exclude", 1)], // text order is collation-dependent
      [r("a", "qty", "contains", "1", "exclude", 1)], // str() of a number is not its SQL text
      [r("i", "name", "equals", "x", "include", 1), r("a", "doc", "equals", "x", "exclude", 2)],
    ]) {
      const out = pushDownBasicRules(rules, cols);
      expect(out).toEqual({ where: null, params: [], residual: rules });
    }
    expect(pushDownBasicRules([], cols)).toEqual({ where: null, params: [], residual: [] });
  });

  it("quotes column identifiers", () => {
    const out = pushDownBasicRules(
      [r("a", "f", "equals", "x", "exclude", 1)],
      [{ field: "f", column: 'we"ird', type: "text" }],
    );
    expect(out.where).toContain('"we""ird"::text');
  });
});
