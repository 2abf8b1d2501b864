import { describe, expect, it } from "vitest";
import { SyncRuleError } from "../../src/errors.js";
import { BasicRuleEngine, DEFAULT_RULE, orderBasicRules, validateBasicRules } from "../../src/rules/index.js";

const rule = (id: string, field: string, op: string, value: string, policy: string, order: number) => ({
  id,
  field,
  rule: op,
  value,
  policy,
  order,
});

/** An engine from raw rules that must be valid. */
const engine = (...rules: unknown[]): BasicRuleEngine => {
  const { rules: valid, errors } = validateBasicRules(rules);
  expect(errors).toEqual([]);
  return new BasicRuleEngine(valid);
};

/** Whether a single rule with this policy lets the document through. */
const single = (op: string, value: string, doc: Record<string, unknown>, policy = "exclude"): boolean =>
  engine(rule("r", "f", op, value, policy, 1)).shouldIndex(doc);

describe("validateBasicRules (Elastic's validators)", () => {
  it("accepts valid rules, normalises policy and rule case, leaves DEFAULT out", () => {
    const { rules, errors } = validateBasicRules([
      { ...DEFAULT_RULE },
      rule("a", "name", "Equals", "x", "EXCLUDE", 2),
      rule("b", "age", ">", "3", "include", 1.5),
    ]);
    expect(errors).toEqual([]);
    expect(rules).toEqual([
      { id: "a", field: "name", rule: "equals", value: "x", policy: "exclude", order: 2 },
      { id: "b", field: "age", rule: ">", value: "3", policy: "include", order: 1.5 },
    ]);
  });

  it("treats null/undefined as no rules and rejects a non-array", () => {
    expect(validateBasicRules(undefined)).toEqual({ rules: [], errors: [] });
    expect(validateBasicRules(null)).toEqual({ rules: [], errors: [] });
    expect(validateBasicRules({}).errors).toEqual([{ ids: [], messages: ["data must be array"] }]);
  });

  it("gives a rule without id a generated, unique one", () => {
    const { rules, errors } = validateBasicRules([
      { field: "f", rule: "equals", value: "1", policy: "exclude", order: 1 },
      { id: "rule-1", field: "f", rule: "equals", value: "2", policy: "exclude", order: 2 },
      { field: "f", rule: "equals", value: "3", policy: "exclude", order: 3 },
      { field: "f", rule: "equals", value: "4", policy: "exclude", order: 4 },
    ]);
    expect(errors).toEqual([]);
    expect(rules.map((r) => r.id)).toEqual(["rule-0", "rule-1", "rule-2", "rule-3"]);
    const clash = validateBasicRules([
      { id: "rule-1", field: "f", rule: "equals", value: "1", policy: "exclude", order: 1 },
      { field: "f", rule: "equals", value: "2", policy: "exclude", order: 2 },
    ]);
    expect(clash.rules.map((r) => r.id)).toEqual(["rule-1", "rule-1-2"]);
  });

  it("reports schema errors one per rule, worded as fastjsonschema", () => {
    const { rules, errors } = validateBasicRules([
      "nope",
      { id: "m", policy: "include", rule: "equals" },
      rule("p", "f", "equals", "x", "maybe", 1),
      rule("r", "f", "like", "x", "include", 1),
      rule("v", "f", "equals", "", "include", 1),
      { ...rule("n", "f", "equals", "x", "include", 1), value: 5 },
      { ...rule("o", "f", "equals", "x", "include", 1), order: "1" },
      { ...rule("b", "f", "equals", "x", "include", 1), order: true },
      rule("e", "", "equals", "x", "include", 1),
      rule("", "f", "equals", "x", "include", 1),
      { ...rule("i", "f", "equals", "x", "include", 1), id: 7 },
    ]);
    expect(rules).toEqual([]);
    expect(errors).toEqual([
      { ids: ["rule-0"], messages: ["data must be object"] },
      { ids: ["m"], messages: ["data must contain ['field', 'order', 'value'] properties"] },
      { ids: ["p"], messages: ["data.policy must be policy"] },
      { ids: ["r"], messages: ["data.rule must be rule"] },
      { ids: ["v"], messages: ["data.value must be longer than or equal to 1 characters"] },
      { ids: ["n"], messages: ["data.value must be string"] },
      { ids: ["o"], messages: ["data.order must be number"] },
      { ids: ["b"], messages: ["data.order must be number"] },
      { ids: ["e"], messages: ["data.field must be longer than or equal to 1 characters"] },
      { ids: [""], messages: ["data.id must be longer than or equal to 1 characters"] },
      { ids: ["rule-10"], messages: ["data.id must be string"] },
    ]);
  });

  it("rejects match-all regexps except in the DEFAULT rule", () => {
    const { rules, errors } = validateBasicRules([
      { ...DEFAULT_RULE },
      rule("a", "f", "regex", ".*", "include", 1),
      rule("b", "f", "REGEX", "(.*)", "exclude", 2),
      rule("c", "f", "regex", ".*x", "exclude", 3),
    ]);
    const message = "Match all regexps: '['.*', '(.*)']' are not allowed.";
    expect(errors).toEqual([
      { ids: ["a"], messages: [message] },
      { ids: ["b"], messages: [message] },
    ]);
    expect(rules.map((r) => r.id)).toEqual(["c"]);
  });

  it("rejects a regex Python would not compile", () => {
    const { errors } = validateBasicRules([rule("a", "f", "regex", "(ab", "include", 1)]);
    expect(errors).toEqual([
      { ids: ["a"], messages: [expect.stringMatching(/^Invalid regular expression '\(ab': missing \)/)] },
    ]);
  });

  it("marks both semantic duplicates invalid, whatever their policies", () => {
    const { rules, errors } = validateBasicRules([
      rule("a", "f", "equals", "x", "include", 1),
      rule("keep", "f", "equals", "y", "include", 2),
      rule("b", "f", "EQUALS", "x", "exclude", 3),
    ]);
    expect(errors).toEqual([
      { ids: ["b"], messages: ["Rule with id 'b' is semantically equal to rule with id 'a'"] },
      { ids: ["a"], messages: ["Rule with id 'a' is semantically equal to rule with id 'b'"] },
    ]);
    expect(rules.map((r) => r.id)).toEqual(["keep"]);
  });

  it("orders errors as Elastic runs its validators: schema, match-all, regex, duplicates", () => {
    const { errors } = validateBasicRules([
      rule("d1", "f", "equals", "x", "include", 1),
      rule("m", "f", "regex", ".*", "include", 2),
      rule("d2", "f", "equals", "x", "include", 3),
      rule("s", "f", "equals", "x", "sometimes", 4),
      rule("x", "f", "regex", "[", "include", 5),
    ]);
    expect(errors.map((e) => e.ids[0])).toEqual(["s", "m", "x", "d2", "d1"]);
  });
});

describe("BasicRuleEngine", () => {
  it("indexes everything with no rule but the default", () => {
    expect(engine().isMatchAll).toBe(true);
    const withDefault = engine({ ...DEFAULT_RULE });
    expect(withDefault.isMatchAll).toBe(true);
    expect(withDefault.shouldIndex({ a: 1 })).toBe(true);
    expect(engine(rule("a", "f", "equals", "x", "include", 1)).isMatchAll).toBe(false);
  });

  it.each([
    ["equals", "John", "John", "Johnny"],
    ["contains", "oh", "John", "Jane"],
    ["starts_with", "Jo", "John", "Ajo"],
    ["ends_with", "hn", "John", "Johny"],
    ["regex", "J[aeiou]h", "Johnny", "Jane"],
    [">", "M", "Zed", "Ann"],
    ["<", "M", "Ann", "Zed"],
  ])("%s %j: include and exclude", (op, value, hit, miss) => {
    for (const policy of ["include", "exclude"]) {
      // Include rules only matter before an exclude: put a catch-all-ish exclude after.
      const e = engine(
        rule("r", "f", op, value, policy, 1),
        rule("last", "other", "equals", "z", "exclude", 2),
      );
      expect(e.shouldIndex({ f: hit, other: "z" })).toBe(policy === "include");
      expect(e.shouldIndex({ f: miss, other: "z" })).toBe(false);
      expect(e.shouldIndex({ f: miss })).toBe(true); // nothing matches: the default includes
    }
  });

  it("sorts by order (DEFAULT last, stable for ties) and lets the first match decide", () => {
    const e = engine(
      rule("late", "name", "starts_with", "A", "include", 5),
      { ...DEFAULT_RULE },
      rule("early", "name", "contains", "le", "exclude", 1),
      rule("tie-1", "age", ">", "30", "include", 3),
      rule("tie-2", "age", ">", "40", "exclude", 3),
    );
    expect(orderBasicRules(e.rules).map((r) => r.id)).toEqual(["early", "tie-1", "tie-2", "late"]);
    expect(e.decidingRule({ name: "Alex" })?.id).toBe("early");
    expect(e.shouldIndex({ name: "Alex" })).toBe(false); // "early" before "late"
    expect(e.shouldIndex({ name: "Ann", age: 50 })).toBe(true); // tie-1 comes first in input order
    expect(e.shouldIndex({ name: "Bob", age: 20 })).toBe(true); // nothing matches
    expect(e.decidingRule({ name: "Bob", age: 20 })).toBeUndefined();
  });

  it("never matches a missing field or a null value", () => {
    for (const op of ["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"]) {
      expect(single(op, "x", {})).toBe(true);
      expect(single(op, "x", { f: null })).toBe(true);
      expect(single(op, "x", { g: "x" })).toBe(true);
    }
  });

  it("regex is re.match: anchored at the start, not at the end, in Python's dialect", () => {
    expect(single("regex", "ab", { f: "abc" })).toBe(false); // matched at the start: excluded
    expect(single("regex", "bc", { f: "abc" })).toBe(true); // not at the start
    expect(single("regex", "ab$", { f: "abc" })).toBe(true);
    expect(single("regex", "abc$", { f: "abc\n" })).toBe(false); // Python's $ allows a final newline
    expect(single("regex", "(?P<x>a)(?P=x)", { f: "aa" })).toBe(false);
    expect(single("regex", "\\d+", { f: "١٢٣" })).toBe(false); // Unicode digits, as in Python
  });

  it("string operators look at Python's str() of the value", () => {
    expect(single("starts_with", "Tr", { f: true })).toBe(false);
    expect(single("equals", "True", { f: "True" })).toBe(false);
    expect(single("contains", "'b'", { f: ["a", "b"] })).toBe(false); // "['a', 'b']"
    expect(single("ends_with", ".5", { f: 2.5 })).toBe(false);
    expect(single("regex", "1e\\+16", { f: 1e16 })).toBe(false);
  });

  describe("coerces the rule value to the document value's type", () => {
    it("numbers compare as numbers (Python float())", () => {
      expect(single(">", "30", { f: 35 })).toBe(false);
      expect(single("<", "25", { f: 9 })).toBe(false); // 9 < 25, although "9" > "25"
      expect(single("equals", "1_000", { f: 1000 })).toBe(false);
      expect(single("equals", " 2.50 ", { f: 2.5 })).toBe(false);
      expect(single("<", "inf", { f: 1e300 })).toBe(false);
      expect(single("equals", "nan", { f: NaN })).toBe(true); // NaN equals nothing
      expect(single(">", "abc", { f: 5 })).toBe(true); // not a number: no match (Elastic raises)
      expect(single("equals", "0x10", { f: 16 })).toBe(true);
    });

    it("strings compare as strings, by code point", () => {
      expect(single(">", "2024-01-01", { f: "2024-06-01" })).toBe(false);
      expect(single(">", "9", { f: "10" })).toBe(true); // "10" < "9" as text
      expect(single(">", "\uffff", { f: "😀" })).toBe(false); // U+1F600 > U+FFFF (not in UTF-16 order)
      // An ISO timestamp with another offset is still compared as text, as in Elastic.
      expect(single("<", "2024-01-01T00:00:00Z", { f: "2024-01-01T01:00:00+02:00" })).toBe(true);
    });

    it("dates compare as dates", () => {
      const doc = { f: new Date("2024-06-01T00:00:00Z") };
      expect(single(">", "2024-01-01", doc)).toBe(false);
      expect(single("<", "2024-01-01T00:00:00+00:00", doc)).toBe(true);
      expect(single("equals", "2024-06-01T02:00:00+02:00", doc)).toBe(false);
      expect(single("equals", "not a date", doc)).toBe(true);
    });

    it("booleans compare as booleans", () => {
      for (const v of ["true", "T", "yes", "y", "ON"]) expect(single("equals", v, { f: true })).toBe(false);
      for (const v of ["false", "f", "No", "off"]) expect(single("equals", v, { f: false })).toBe(false);
      expect(single("equals", "true", { f: false })).toBe(true);
      expect(single("equals", "maybe", { f: true })).toBe(true);
      expect(single(">", "false", { f: true })).toBe(false);
    });
  });

  it("rejects an invalid regex it is given directly", () => {
    expect(
      () =>
        new BasicRuleEngine([
          { id: "x", field: "f", rule: "regex", value: "(", policy: "include", order: 1 },
        ]),
    ).toThrow(SyncRuleError);
  });
});
