import { describe, expect, it } from "vitest";
import { SyncRuleError } from "../../src/errors.js";
import { assertReadOnlyQuery, parseAdvancedRules, referencedTables } from "../../src/rules/index.js";

/** The four examples of the connector reference ("Advanced sync rules examples"). */
const REFERENCE_EXAMPLES: unknown[] = [
  [
    { tables: ["employee"], query: "SELECT * FROM employee" },
    { tables: ["customer"], query: "SELECT * FROM customer" },
  ],
  [
    { tables: ["employee"], query: "SELECT * FROM employee", id_columns: ["emp_id"] },
    { tables: ["customer"], query: "SELECT * FROM customer", id_columns: ["c_id"] },
  ],
  [{ tables: ["employee"], query: "SELECT * FROM employee WHERE emp_id > 5" }],
  [
    {
      tables: ["employee", "customer"],
      query: "SELECT * FROM employee INNER JOIN customer ON employee.emp_id = customer.c_id",
    },
  ],
];

/** The SyncRuleError a call throws. */
function errorOf(fn: () => unknown): SyncRuleError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SyncRuleError);
    return error as SyncRuleError;
  }
  throw new Error("expected a SyncRuleError");
}

describe("parseAdvancedRules", () => {
  it.each(REFERENCE_EXAMPLES.map((example, i) => [i + 1, example]))(
    "accepts reference example %i, as an array and as JSON text",
    async (_, example) => {
      const rules = parseAdvancedRules(example);
      expect(parseAdvancedRules(JSON.stringify(example))).toEqual(rules);
      expect(rules).toHaveLength((example as unknown[]).length);
      for (const rule of rules) await assertReadOnlyQuery(rule);
    },
  );

  it("normalises to {index, tables, query, idColumns?}", () => {
    expect(parseAdvancedRules(REFERENCE_EXAMPLES[1])).toEqual([
      { index: 0, tables: ["employee"], query: "SELECT * FROM employee", idColumns: ["emp_id"] },
      { index: 1, tables: ["customer"], query: "SELECT * FROM customer", idColumns: ["c_id"] },
    ]);
    expect(parseAdvancedRules(REFERENCE_EXAMPLES[2])).toEqual([
      { index: 0, tables: ["employee"], query: "SELECT * FROM employee WHERE emp_id > 5" },
    ]);
  });

  it("treats {}, [], null, undefined, empty text and their JSON as no rules", () => {
    for (const value of [{}, [], null, undefined, "", "  ", "{}", "[]", "null"]) {
      expect(parseAdvancedRules(value)).toEqual([]);
    }
  });

  it.each([
    [
      [{ tables: ["a"], query: "SELECT 1" }, "SELECT 1"],
      "advanced[1]",
      'must be an object with "tables" and "query"',
    ],
    [[{ query: "SELECT 1" }], "advanced[0]", '"tables" must be a non-empty array of table names'],
    [[{ tables: [], query: "SELECT 1" }], "advanced[0]", '"tables" must be a non-empty array of table names'],
    [
      [{ tables: "a", query: "SELECT 1" }],
      "advanced[0]",
      '"tables" must be a non-empty array of table names',
    ],
    [
      [{ tables: ["a", 3], query: "SELECT 1" }],
      "advanced[0]",
      '"tables" must be a non-empty array of table names',
    ],
    [
      [{ tables: [""], query: "SELECT 1" }],
      "advanced[0]",
      '"tables" must be a non-empty array of table names',
    ],
    [
      [{ tables: ["a"], query: "SELECT 1" }, { tables: ["a"] }],
      "advanced[1]",
      '"query" must be a non-empty string',
    ],
    [[{ tables: ["a"], query: "" }], "advanced[0]", '"query" must be a non-empty string'],
    [[{ tables: ["a"], query: 5 }], "advanced[0]", '"query" must be a non-empty string'],
    [
      [{ tables: ["a"], query: "q", id_columns: "id" }],
      "advanced[0]",
      '"id_columns" must be a non-empty array of column names',
    ],
    [
      [{ tables: ["a"], query: "q", id_columns: [] }],
      "advanced[0]",
      '"id_columns" must be a non-empty array of column names',
    ],
    [
      [{ tables: ["a"], query: "q", where: "x" }],
      "advanced[0]",
      'unknown property "where" (allowed: tables, query, id_columns)',
    ],
    [{ tables: ["a"], query: "q" }, "advanced", "must be an array of {tables, query, id_columns?} objects"],
    ["[{", "advanced", "is not valid JSON"],
  ])("rejects %j", (value, rule, message) => {
    const error = errorOf(() => parseAdvancedRules(value));
    expect(error.rule).toBe(rule);
    expect(error.message).toContain(`sync rule ${rule}: ${message}`);
  });
});

describe("assertReadOnlyQuery", () => {
  it.each([
    "SELECT * FROM employee",
    "select e.name from public.employee e where e.emp_id in (select c_id from customer) order by 1 limit 5",
    "VALUES (1, 'a'), (2, 'b')",
    "TABLE employee",
    "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
    "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b",
    "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t",
    "SELECT * FROM employee;",
    "SELECT 'DELETE FROM t; DROP TABLE t' AS harmless",
  ])("accepts %s", async (query) => {
    // It returns the statement itself, without a trailing ";".
    await expect(assertReadOnlyQuery({ index: 0, query })).resolves.toBe(query.replace(/;$/, ""));
  });

  it.each([
    ["INSERT INTO t VALUES (1)", "the query must be a SELECT, found an INSERT statement"],
    ["UPDATE t SET a = 1", "the query must be a SELECT, found an UPDATE statement"],
    ["DELETE FROM t", "the query must be a SELECT, found a DELETE statement"],
    ["MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "found a MERGE statement"],
    ["DROP TABLE t", "the query must be a SELECT, found a DROP statement"],
    ["CREATE TABLE x AS SELECT 1", "found a CREATE TABLE AS statement"],
    ["EXPLAIN ANALYZE DELETE FROM t", "found an EXPLAIN statement"],
    ["SELECT 1; SELECT 2", "the query must be exactly one SELECT statement, found 2 statements"],
    ["SELECT 1; DELETE FROM t", "found 2 statements"],
    ["-- nothing here", "the query must be one SELECT statement, found no statement"],
    [
      "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone",
      "the query must be read-only: WITH gone is a data-modifying DELETE statement (every CTE must be a SELECT)",
    ],
    [
      "WITH a AS (SELECT 1), u AS (UPDATE t SET x = 1 RETURNING x) SELECT * FROM a",
      "WITH u is a data-modifying",
    ],
    [
      "SELECT * FROM (SELECT 1) s WHERE EXISTS (WITH i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM i)",
      "WITH i",
    ],
    ["SELECT * INTO copy FROM t", "the query must be read-only: SELECT ... INTO creates a table"],
    ["SELECT 1 UNION SELECT 2 INTO z", "SELECT ... INTO creates a table"],
    ["SELECT * FROM t FOR UPDATE", "the query must be read-only: FOR UPDATE locks rows"],
    ["SELECT * FROM t FOR KEY SHARE OF t NOWAIT", "FOR KEY SHARE locks rows"],
    ["SELECT * FROM (SELECT * FROM t FOR NO KEY UPDATE) s", "FOR NO KEY UPDATE locks rows"],
    ["SELEC * FROM t", 'the query is not valid SQL: syntax error at or near "SELEC" (at character 1)'],
    ["SELECT * FROM t WHERE", "the query is not valid SQL: syntax error at end of input (at character 22)"],
  ])("rejects %s", async (query, message) => {
    const error = await assertReadOnlyQuery({ index: 2, query }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SyncRuleError);
    expect((error as SyncRuleError).rule).toBe("advanced[2]");
    expect((error as SyncRuleError).message).toContain("sync rule advanced[2]: ");
    expect((error as SyncRuleError).message).toContain(message);
  });
});

describe("referencedTables", () => {
  it("lists the relations a query reads, without CTE names", async () => {
    expect(
      await referencedTables("SELECT * FROM employee INNER JOIN customer ON employee.emp_id = customer.c_id"),
    ).toEqual([{ name: "employee" }, { name: "customer" }]);
    expect(
      await referencedTables(
        "WITH recent AS (SELECT * FROM sales.orders) SELECT * FROM recent r JOIN public.customer c USING (id) " +
          "WHERE r.id IN (SELECT order_id FROM lines) AND EXISTS (SELECT 1 FROM recent)",
      ),
    ).toEqual([
      { schema: "sales", name: "orders" },
      { schema: "public", name: "customer" },
      { name: "lines" },
    ]);
  });

  it("scopes CTE names as PostgreSQL does", async () => {
    // The CTE `t` shadows the table t only inside the subquery that defines it; a qualified name
    // is never a CTE; a non-recursive CTE does not see itself.
    expect(
      await referencedTables(
        "SELECT * FROM t, (WITH t AS (SELECT 1) SELECT * FROM t) s, (WITH u AS (SELECT * FROM u) SELECT * FROM u) v, " +
          "(WITH x AS (SELECT 1) SELECT * FROM public.x) w",
      ),
    ).toEqual([{ name: "t" }, { name: "u" }, { schema: "public", name: "x" }]);
    expect(
      await referencedTables("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT * FROM r) SELECT * FROM r, r2"),
    ).toEqual([{ name: "r2" }]);
  });

  it("reports syntax errors as SyncRuleError", async () => {
    await expect(referencedTables("SELECT FROM WHERE", "advanced[4]")).rejects.toThrow(
      /advanced\[4\]: the query is not valid SQL/,
    );
  });
});
