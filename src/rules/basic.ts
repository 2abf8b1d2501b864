/**
 * Elastic's basic sync rules: ordered include/exclude rules on document fields. The rules are
 * sorted by `order`, the first rule that matches a document decides, and a document no rule
 * matches is indexed (the DEFAULT rule, always last). Validation, matching and value coercion
 * follow Elastic's connector framework (`connectors/filtering/basic_rule.py` and
 * `validation.py`); where that code crashes or is plainly broken we do the intended thing instead
 * and say so below.
 */
import { SyncRuleError } from "../errors.js";
import { compareCoerced } from "./coerce.js";
import { compilePythonRegex, pyFloat, pyStr, PythonRegexError } from "./python.js";

export type BasicRuleOperator = "equals" | "contains" | "starts_with" | "ends_with" | "regex" | ">" | "<";
export type BasicRulePolicy = "include" | "exclude";

export interface BasicRule {
  id: string;
  /** Document field name; for PostgreSQL the prefixed one (`public_customers_name`) in compat mode. */
  field: string;
  rule: BasicRuleOperator;
  value: string;
  policy: BasicRulePolicy;
  order: number;
}

/** Kibana's shape for filtering validation errors. */
export interface RuleValidationError {
  ids: string[];
  messages: string[];
}

export const DEFAULT_RULE_ID = "DEFAULT";

/** The rule Kibana always keeps last: index whatever no other rule decided. */
export const DEFAULT_RULE: Readonly<BasicRule> = Object.freeze({
  id: DEFAULT_RULE_ID,
  field: "_",
  rule: "regex",
  value: ".*",
  policy: "include",
  order: 0,
});

const OPERATORS: readonly string[] = ["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"];
const MATCH_ALL_REGEXPS = [".*", "(.*)"];
const REQUIRED = ["field", "order", "policy", "rule", "value"];

/**
 * Validates basic rules with Elastic's checks, in Elastic's order, with its {ids, messages} shape
 * and messages (one error per failed check and rule):
 *
 * 1. the JSON schema, first failure only, worded as fastjsonschema words it
 *    (`data.value must be longer than or equal to 1 characters`); `policy` and `rule` compare
 *    case-insensitively, as Elastic's enums do, and come back lower-cased;
 * 2. no match-all regex (`.*`, `(.*)`) except in the rule with id "DEFAULT";
 * 3. (ours) the regex compiles, as Python's `re` would compile it; Elastic only finds out at
 *    sync time, when the job crashes;
 * 4. no semantic duplicates (same field, rule and value, whatever the policy): both rules get an
 *    error, each naming the other. Elastic stops at the first duplicate pair; every pair is
 *    reported here.
 *
 * Differences from Elastic: a rule without `id` gets a generated one (`rule-<position>`, made
 * unique) instead of failing the schema, so rules written by hand in a config file need no ids;
 * `order` must be a finite number.
 *
 * `rules` holds the rules that passed every check, in input order, without the DEFAULT rule
 * (the engine always adds it implicitly as the last rule).
 */
export function validateBasicRules(input: unknown): { rules: BasicRule[]; errors: RuleValidationError[] } {
  if (input === undefined || input === null) return { rules: [], errors: [] };
  if (!Array.isArray(input)) return { rules: [], errors: [{ ids: [], messages: ["data must be array"] }] };

  const taken = new Set(
    input.flatMap((raw: unknown) =>
      isObject(raw) && typeof raw.id === "string" ? [raw.id] : ([] as string[]),
    ),
  );
  const schemaErrors: RuleValidationError[] = [];
  const candidates: BasicRule[] = [];
  input.forEach((raw: unknown, position) => {
    let id: string;
    if (isObject(raw) && typeof raw.id === "string") id = raw.id;
    else {
      id = `rule-${position}`;
      for (let n = 2; taken.has(id); n++) id = `rule-${position}-${n}`;
      taken.add(id);
    }
    const message = schemaError(raw);
    if (message !== undefined) schemaErrors.push({ ids: [id], messages: [message] });
    else {
      const r = raw as Record<string, unknown>;
      candidates.push({
        id,
        field: r.field as string,
        rule: (r.rule as string).toLowerCase() as BasicRuleOperator,
        value: r.value as string,
        policy: (r.policy as string).toLowerCase() as BasicRulePolicy,
        order: r.order as number,
      });
    }
  });

  const matchAllErrors: RuleValidationError[] = [];
  const regexErrors: RuleValidationError[] = [];
  for (const rule of candidates) {
    if (rule.id === DEFAULT_RULE_ID || rule.rule !== "regex") continue;
    if (MATCH_ALL_REGEXPS.includes(rule.value)) {
      matchAllErrors.push({
        ids: [rule.id],
        messages: [`Match all regexps: '['.*', '(.*)']' are not allowed.`],
      });
      continue;
    }
    try {
      compilePythonRegex(rule.value);
    } catch (error) {
      regexErrors.push({
        ids: [rule.id],
        messages: [`Invalid regular expression '${rule.value}': ${(error as Error).message}`],
      });
    }
  }

  const duplicateErrors: RuleValidationError[] = [];
  const seen = new Map<string, BasicRule>();
  for (const rule of candidates) {
    const key = JSON.stringify([rule.field, rule.rule, rule.value]);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, rule);
      continue;
    }
    const message = (a: string, b: string) =>
      `Rule with id '${a}' is semantically equal to rule with id '${b}'`;
    duplicateErrors.push(
      { ids: [rule.id], messages: [message(rule.id, first.id)] },
      { ids: [first.id], messages: [message(first.id, rule.id)] },
    );
  }

  const errors = [...schemaErrors, ...matchAllErrors, ...regexErrors, ...duplicateErrors];
  const invalid = new Set(errors.flatMap((e) => e.ids));
  const rules = candidates.filter((r) => r.id !== DEFAULT_RULE_ID && !invalid.has(r.id));
  return { rules, errors };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Elastic's BasicRuleAgainstSchemaValidator, with fastjsonschema's wording; undefined if valid. */
function schemaError(raw: unknown): string | undefined {
  if (!isObject(raw)) return "data must be object";
  const missing = REQUIRED.filter((key) => !(key in raw));
  if (missing.length > 0) return `data must contain [${missing.map((k) => `'${k}'`).join(", ")}] properties`;
  const text = (key: string): string | undefined => {
    const value = raw[key];
    if (typeof value !== "string") return `data.${key} must be string`;
    if (value.length < 1) return `data.${key} must be longer than or equal to 1 characters`;
    return undefined;
  };
  if ("id" in raw) {
    const problem = text("id");
    if (problem !== undefined) return problem;
  }
  if (typeof raw.policy !== "string" || !["include", "exclude"].includes(raw.policy.toLowerCase()))
    return "data.policy must be policy";
  const field = text("field");
  if (field !== undefined) return field;
  if (typeof raw.rule !== "string" || !OPERATORS.includes(raw.rule.toLowerCase()))
    return "data.rule must be rule";
  const value = text("value");
  if (value !== undefined) return value;
  if (typeof raw.order !== "number" || !Number.isFinite(raw.order)) return "data.order must be number";
  return undefined;
}

/** Rules in evaluation order: DEFAULT left out (it is the implicit last rule), stable by `order`. */
export function orderBasicRules(rules: readonly BasicRule[]): BasicRule[] {
  return rules
    .filter((r) => r.id !== DEFAULT_RULE_ID)
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => a.rule.order - b.rule.order || a.index - b.index)
    .map((x) => x.rule);
}

type Matcher = (doc: Record<string, unknown>) => boolean;

/**
 * Decides whether a document is indexed, as Elastic's `BasicRuleEngine.should_ingest` does.
 *
 * Matching, per rule (Elastic's `BasicRule.matches`):
 * - a field missing from the document never matches;
 * - `contains` / `starts_with` / `ends_with` look at Python's `str(value)` of the document value
 *   (so `true` is "True", a list is "['a', 'b']");
 * - `regex` is Python's `re.match(value, str(doc_value))`: the match must start at the
 *   beginning of the text but need not reach its end (`ab` matches "abc"; write `ab$` for a full
 *   match). The pattern is Python's dialect, translated (see compilePythonRegex);
 * - `equals`, `<`, `>` first coerce the rule value to the document value's type: a string
 *   compares as a string (code-point order, so ISO dates stored as text compare lexically, as in
 *   Elastic, where PostgreSQL dates are already ISO strings when the rules run); a number compares
 *   with Python's `float(value)`; a Date with the rule value parsed as a date; a boolean with the
 *   rule value read as a boolean (true/t/yes/y/on, false/f/no/n/off or empty).
 *
 * Where Elastic's code is broken we do what it means to do, rather than copy the breakage:
 * - a null value matches no rule (Elastic matches `str(None)`, i.e. "None", for the string
 *   operators and raises TypeError for `<` `>`, failing the sync);
 * - a value that cannot be coerced (number field, rule value "abc") matches no rule (Elastic
 *   raises TypeError for `<` `>`);
 * - booleans compare as booleans (Elastic compares `True == "True"`, which is never equal, and
 *   raises TypeError for `<` `>`); arrays and objects match only the string operators.
 */
export class BasicRuleEngine {
  /** The rules as given (the pushdown and callers that re-plan use them). */
  readonly rules: BasicRule[];
  /** No rule but the default: every document is indexed, no need to look at it. */
  readonly isMatchAll: boolean;
  private readonly compiled: { rule: BasicRule; matches: Matcher }[];

  constructor(rules: BasicRule[]) {
    this.rules = rules;
    this.compiled = orderBasicRules(rules).map((rule) => ({ rule, matches: compileRule(rule) }));
    this.isMatchAll = this.compiled.length === 0;
  }

  shouldIndex(doc: Record<string, unknown>): boolean {
    return this.decidingRule(doc)?.policy !== "exclude";
  }

  /** The first rule that matches the document, or undefined when the default rule decides. */
  decidingRule(doc: Record<string, unknown>): BasicRule | undefined {
    for (const { rule, matches } of this.compiled) if (matches(doc)) return rule;
    return undefined;
  }
}

function compileRule(rule: BasicRule): Matcher {
  const { field, value } = rule;
  const read = (doc: Record<string, unknown>): unknown =>
    Object.prototype.hasOwnProperty.call(doc, field) ? doc[field] : undefined;
  const text = (test: (s: string) => boolean): Matcher => {
    return (doc) => {
      const v = read(doc);
      return v !== undefined && v !== null && test(pyStr(v));
    };
  };
  const compare = (test: (c: number) => boolean): Matcher => {
    return (doc) => {
      const v = read(doc);
      if (v === undefined || v === null) return false;
      const c = compareCoerced(v, value);
      return c !== undefined && test(c);
    };
  };
  switch (rule.rule) {
    case "starts_with":
      return text((s) => s.startsWith(value));
    case "ends_with":
      return text((s) => s.endsWith(value));
    case "contains":
      return text((s) => s.includes(value));
    case "regex": {
      let match: (s: string) => boolean;
      try {
        match = compilePythonRegex(value);
      } catch (error) {
        if (!(error instanceof PythonRegexError)) throw error;
        throw new SyncRuleError(`basic[id=${rule.id}]`, `invalid regular expression: ${error.message}`);
      }
      return text(match);
    }
    case "equals":
      return compare((c) => c === 0);
    case "<":
      return compare((c) => c < 0);
    case ">":
      return compare((c) => c > 0);
    default:
      throw new SyncRuleError(`basic[id=${rule.id}]`, `unknown rule "${String(rule.rule)}"`);
  }
}

// ------------------------------------------------------------------------------------------------
// Pushdown into SQL
// ------------------------------------------------------------------------------------------------

/**
 * A document field backed by a column of the SELECT, and what its document value is:
 * - "text": the column's `::text` value as a JSON string (text, varchar, name, citext, enums;
 *   not char(n): its document value keeps the padding that `::text` strips);
 * - "number": a numeric type rendered by PostgreSQL's to_json/row_to_json: a JSON number with the
 *   column's text output, or the JSON string "NaN" / "Infinity" / "-Infinity";
 * - "other": anything else; rules on it stay in memory.
 * A NULL column is a JSON null.
 */
export interface BasicRuleColumn {
  field: string;
  /** Column name; quoted as an identifier in the SQL. */
  column: string;
  type: "text" | "number" | "other";
}

/** The same, with the column as any SQL expression (e.g. `s."name"` or `s.c3`). */
export interface BasicRuleSqlColumn {
  field: string;
  sql: string;
  type: BasicRuleColumn["type"];
}

export interface BasicRulesPushdown {
  /** A boolean SQL condition, or null when nothing could be pushed down. */
  where: string | null;
  /** Values of the `$n` placeholders in `where`, from `$offset+1` on. */
  params: unknown[];
  /** Rules to apply in memory, with a BasicRuleEngine, to the rows the condition lets through. */
  residual: BasicRule[];
}

/** Double-quotes an identifier, doubling embedded quotes. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Translates basic rules into a SQL condition where, and only where, the translation is exact:
 * for every row, "the condition is true and `new BasicRuleEngine(residual)` indexes the document"
 * must equal "`new BasicRuleEngine(rules)` indexes the document".
 *
 * Values are bind parameters `$offset+1`, `$offset+2`, ... (so the caller can put its own first);
 * columns are quoted identifiers.
 *
 * How (rules in evaluation order, DEFAULT excluded):
 * 1. Include rules after the last exclude rule are dropped: they cannot change a decision (no
 *    match means include anyway).
 * 2. Rules translate one by one until the first that cannot: its field has no column, the column
 *    is "other", or the operator has no exact SQL form for the column's type (regex never does:
 *    Python's and PostgreSQL's regular expressions differ; `<` `>` on text neither: collation
 *    order is not Python's code-point order). That rule and all later ones stay in memory.
 * 3. First match wins becomes `CASE WHEN c1 THEN <policy1> WHEN c2 THEN <policy2> ... ELSE TRUE END`.
 *    A NULL column makes a WHEN condition NULL, which CASE treats as not matched: exactly the
 *    in-memory rule that a null value matches no rule. If every rule translated, residual is empty.
 * 4. Otherwise the rows the pushed prefix lets through are those it includes and those it does
 *    not match. The ones it does not match must meet the residual rules; the ones an include rule
 *    of the prefix matched must stay included. So residual = the prefix's include rules (again,
 *    in order; they match exactly the rows they included in SQL, and match nothing else that
 *    got through) followed by the untranslated rules. A prefix without exclude rules filters
 *    nothing: then where is null and every rule is residual.
 *
 * Exact SQL forms (the right-hand side is always a parameter, compared under COLLATE "C", i.e.
 * byte by byte, as Python compares characters for equality; nondeterministic column collations
 * would otherwise change `=` and make strpos fail):
 * - text: equals → `x::text = $n`; starts_with → `starts_with(x::text, $n)`;
 *   ends_with → `right(x::text, length($n)) = $n`; contains → `strpos(x::text, $n) > 0`;
 * - number: equals / `<` / `>` compare `x::text::float8` (the double JSON.parse gets from the same
 *   text) with Python's `float(value)`; rows whose text is NaN/Infinity/-Infinity are JSON strings
 *   in the document and so compare as text, as in memory. A value Python cannot parse (or NaN)
 *   matches no number. Unconstrained numerics beyond the double range make PostgreSQL raise
 *   "out of range": the sync fails loudly, it never filters wrongly.
 */
export function pushDownBasicRules(
  rules: readonly BasicRule[],
  columns: readonly BasicRuleColumn[],
  offset = 0,
): BasicRulesPushdown {
  const params: unknown[] = [];
  const { where, residual } = compileBasicRulesPushdown(
    rules,
    columns.map((c) => ({ field: c.field, sql: quoteIdentifier(c.column), type: c.type })),
    (value) => {
      params.push(value);
      return `$${offset + params.length}`;
    },
  );
  return { where, params, residual };
}

/**
 * pushDownBasicRules for callers that reference columns by SQL expression and number their own
 * parameters: `param(value)` binds a value and returns its placeholder. `param` is only called
 * for values that end up in `where`.
 */
export function compileBasicRulesPushdown(
  rules: readonly BasicRule[],
  columns: readonly BasicRuleSqlColumn[],
  param: (value: unknown) => string,
): { where: string | null; residual: BasicRule[] } {
  const ordered = orderBasicRules(rules);
  let end = ordered.length;
  while (end > 0 && ordered[end - 1]?.policy === "include") end--;
  const effective = ordered.slice(0, end);

  const byField = new Map<string, BasicRuleSqlColumn>();
  for (const c of columns) if (!byField.has(c.field)) byField.set(c.field, c);

  const translated: { rule: BasicRule; render: Render }[] = [];
  for (const rule of effective) {
    const column = byField.get(rule.field);
    const render = column === undefined ? undefined : translateRule(rule, column);
    if (render === undefined) break;
    translated.push({ rule, render });
  }
  const complete = translated.length === effective.length;
  const residual = complete
    ? []
    : [
        ...translated.filter((t) => t.rule.policy === "include").map((t) => t.rule),
        ...effective.slice(translated.length),
      ];
  if (!translated.some((t) => t.rule.policy === "exclude")) return { where: null, residual: effective };
  const whens = translated.map(
    (t) => `WHEN ${t.render(param)} THEN ${t.rule.policy === "include" ? "TRUE" : "FALSE"}`,
  );
  return { where: `(CASE ${whens.join(" ")} ELSE TRUE END)`, residual };
}

/** Renders a rule's match condition, binding its values through `param`. */
type Render = (param: (value: unknown) => string) => string;

function translateRule(rule: BasicRule, column: BasicRuleSqlColumn): Render | undefined {
  const x = column.sql;
  const c = (p: string): string => `(${p}::text COLLATE "C")`;
  if (column.type === "text") {
    switch (rule.rule) {
      case "equals":
        return (param) => `${x}::text = ${c(param(rule.value))}`;
      case "starts_with":
        return (param) => `starts_with(${x}::text, ${c(param(rule.value))})`;
      case "ends_with":
        return (param) => {
          const p = param(rule.value);
          return `right(${x}::text, length(${p}::text)) = ${c(p)}`;
        };
      case "contains":
        return (param) => `strpos(${x}::text, ${c(param(rule.value))}) > 0`;
      default:
        return undefined;
    }
  }
  if (column.type === "number") {
    const op = rule.rule === "equals" ? "=" : rule.rule === "<" ? "<" : rule.rule === ">" ? ">" : undefined;
    if (op === undefined) return undefined;
    const f = pyFloat(rule.value);
    return (param) => {
      const asText = `${x}::text ${op} ${c(param(rule.value))}`;
      const asNumber =
        f === undefined || Number.isNaN(f) ? "FALSE" : `${x}::text::float8 ${op} ${param(f)}::float8`;
      return `(CASE WHEN ${x}::text IN ('NaN', 'Infinity', '-Infinity') THEN ${asText} ELSE ${asNumber} END)`;
    };
  }
  return undefined;
}
