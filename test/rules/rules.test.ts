import { describe, expect, it } from "vitest";
import {
  assertReadOnlyQuery,
  BasicRuleEngine,
  parseAdvancedRules,
  validateBasicRules,
} from "../../src/rules/index.js";

describe("advanced rules", () => {
  it("accept the reference's four examples", async () => {
    const rules = parseAdvancedRules(
      JSON.stringify([
        { tables: ["employee"], query: "SELECT * FROM employee" },
        { tables: ["customer"], query: "SELECT * FROM customer", id_columns: ["c_id"] },
        { tables: ["employee"], query: "SELECT * FROM employee WHERE emp_id > 5" },
        {
          tables: ["employee", "customer"],
          query: "SELECT * FROM employee INNER JOIN customer ON employee.emp_id = customer.c_id",
        },
      ]),
    );
    expect(rules).toHaveLength(4);
    expect(rules[1]).toEqual({
      index: 1,
      tables: ["customer"],
      query: "SELECT * FROM customer",
      idColumns: ["c_id"],
    });
    for (const rule of rules) await assertReadOnlyQuery(rule);
  });

  it("treat {}, [], null and an empty string as no rules", () => {
    for (const value of [{}, [], null, "", undefined]) expect(parseAdvancedRules(value)).toEqual([]);
  });

  it("name the rule and the problem for invalid shapes", () => {
    expect(() => parseAdvancedRules([{ tables: [], query: "SELECT 1" }])).toThrow(
      /advanced\[0\].*"tables" must be a non-empty array/,
    );
    expect(() => parseAdvancedRules([{ tables: ["a"], query: "SELECT 1" }, { tables: ["a"] }])).toThrow(
      /advanced\[1\].*"query"/,
    );
    expect(() => parseAdvancedRules([{ tables: ["a"], query: "q", id_columns: "id" }])).toThrow(
      /advanced\[0\].*"id_columns"/,
    );
    expect(() => parseAdvancedRules([{ tables: ["a"], query: "q", where: "x" }])).toThrow(
      /advanced\[0\].*unknown property "where"/,
    );
    expect(() => parseAdvancedRules("[{")).toThrow(/advanced.*not valid JSON/);
    expect(() => parseAdvancedRules({ tables: ["a"] })).toThrow(/must be an array/);
  });

  it.each([
    ["INSERT INTO t VALUES (1)", /SELECT, found INSERT/],
    ["UPDATE t SET a = 1", /SELECT, found UPDATE/],
    ["DELETE FROM t", /SELECT, found DELETE/],
    ["DROP TABLE t", /SELECT, found DROP/],
    ["SELECT 1; SELECT 2", /exactly one SELECT statement, found 2/],
    ["WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", /read-only.*DELETE/],
    ["SELECT * INTO copy FROM t", /SELECT \.\.\. INTO/],
    ["SELECT * FROM t FOR UPDATE", /FOR UPDATE/],
    ["SELEC * FROM t", /not valid SQL.*syntax error/],
  ])("reject %s", async (query, message) => {
    await expect(assertReadOnlyQuery({ index: 2, tables: ["t"], query })).rejects.toThrow(message);
    await expect(assertReadOnlyQuery({ index: 2, tables: ["t"], query })).rejects.toThrow(/advanced\[2\]/);
  });
});

describe("basic rules (Elastic's semantics)", () => {
  const rule = (id: string, field: string, op: string, value: string, policy: string, order: number) => ({
    id,
    field,
    rule: op,
    value,
    policy,
    order,
  });
  const engine = (...rules: unknown[]) => {
    const { rules: valid, errors } = validateBasicRules(rules);
    expect(errors).toEqual([]);
    return new BasicRuleEngine(valid);
  };

  it("include everything by default", () => {
    expect(engine().isMatchAll).toBe(true);
    expect(engine(rule("DEFAULT", "_", "regex", ".*", "include", 0)).shouldIndex({ a: 1 })).toBe(true);
  });

  it("apply each operator, first match in order wins, no match includes", () => {
    const e = engine(
      rule("r1", "name", "starts_with", "Al", "exclude", 1),
      rule("r2", "name", "contains", "an", "include", 2),
      rule("r3", "age", ">", "30", "exclude", 3),
      rule("r4", "age", "<", "25", "exclude", 4),
      rule("r5", "city", "ends_with", "burg", "exclude", 5),
      rule("r6", "code", "regex", "[A-Z]{2}", "exclude", 6),
      rule("r7", "name", "equals", "John", "exclude", 7),
    );
    expect(e.shouldIndex({ name: "Alex", age: 22 })).toBe(false); // r1
    expect(e.shouldIndex({ name: "Jane", age: 35 })).toBe(true); // r2 before r3
    expect(e.shouldIndex({ name: "Bob", age: 35 })).toBe(false); // r3: numeric compare (35 > 30)
    expect(e.shouldIndex({ name: "Bob", age: 9 })).toBe(false); // r4: 9 < 25 numerically, not lexically
    expect(e.shouldIndex({ name: "Bob", city: "Hamburg", age: 28 })).toBe(false);
    expect(e.shouldIndex({ name: "Bob", code: "DE-1", age: 28 })).toBe(false); // regex anchored at the start
    expect(e.shouldIndex({ name: "Bob", code: "1-DE", age: 28 })).toBe(true);
    expect(e.shouldIndex({ name: "John", age: 28 })).toBe(false);
    expect(e.shouldIndex({ other: 1 })).toBe(true); // missing fields never match
  });

  it("compare strings as strings, booleans as booleans", () => {
    expect(engine(rule("r", "d", ">", "2024-01-01", "exclude", 1)).shouldIndex({ d: "2024-06-01" })).toBe(
      false,
    );
    expect(engine(rule("r", "ok", "equals", "true", "exclude", 1)).shouldIndex({ ok: true })).toBe(false);
  });

  it("reject invalid rules with Kibana's {ids, messages} shape", () => {
    const { errors } = validateBasicRules([
      rule("a", "f", "regex", ".*", "include", 1),
      rule("b", "f", "equals", "x", "include", 2),
      rule("c", "f", "equals", "x", "exclude", 3),
      rule("d", "f", "like", "x", "maybe", 4),
    ]);
    expect(errors).toEqual([
      { ids: ["a"], messages: [expect.stringMatching(/matching everything/) as unknown] },
      {
        ids: ["d"],
        messages: [
          expect.stringMatching(/"rule" must be one of/) as unknown,
          expect.stringMatching(/"policy"/) as unknown,
        ],
      },
      { ids: ["b", "c"], messages: [expect.stringMatching(/duplicates/) as unknown] },
    ]);
  });
});
