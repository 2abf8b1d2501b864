import type { BasicRule } from "./basic.js";

/** What a stream tells the pushdown about its columns. */
export interface PushdownColumn {
  /** Document field name (compat: `{schema}_{table}_{column}`). */
  field: string;
  /** SQL expression of the column in the stream's SELECT. */
  ref: string;
  typeName: string;
  isArray: boolean;
}

/** A translated rule chain: the SQL condition and the values it binds, in order. */
export interface PushedFilter {
  /** Renders the condition; `param(value)` returns the placeholder bound to `value`. */
  render(param: (value: unknown) => string): string;
}

const TEXT_TYPES = new Set(["text", "varchar"]);
const NUMBER_TYPES = new Set(["int2", "int4", "int8", "float4", "float8", "numeric"]);

/**
 * Translates basic rules into a SQL condition when — and only when — every rule translates
 * exactly: string operators on text/varchar columns (the document value is the column's text),
 * `<` `>` `equals` on numeric columns (compared as double precision, as the in-memory engine
 * compares JSON numbers). First match wins becomes a CASE; a NULL value matches no rule, as a
 * missing field does in memory. Regex rules never translate (Python's `re` and PostgreSQL's
 * regular expressions differ), and then nothing is pushed: the rules run in memory instead.
 */
export function pushDownBasicRules(rules: BasicRule[], columns: PushdownColumn[]): PushedFilter | undefined {
  if (rules.length === 0) return undefined;
  const byField = new Map(columns.map((c) => [c.field, c]));
  const ordered = [...rules].sort((a, b) => a.order - b.order);
  const branches: ((param: (value: unknown) => string) => string)[] = [];
  for (const rule of ordered) {
    const column = byField.get(rule.field);
    if (column === undefined || column.isArray) return undefined;
    const condition = translate(rule, column);
    if (condition === undefined) return undefined;
    const include = rule.policy === "include" ? "true" : "false";
    branches.push((param) => `WHEN ${column.ref} IS NOT NULL AND (${condition(param)}) THEN ${include}`);
  }
  return { render: (param) => `(CASE ${branches.map((b) => b(param)).join(" ")} ELSE true END)` };
}

function translate(
  rule: BasicRule,
  column: PushdownColumn,
): ((param: (value: unknown) => string) => string) | undefined {
  const ref = column.ref;
  if (TEXT_TYPES.has(column.typeName)) {
    switch (rule.rule) {
      case "equals":
        return (p) => `${ref}::text = ${p(rule.value)}::text`;
      case "starts_with":
        return (p) => `left(${ref}::text, length(${p(rule.value)}::text)) = ${p(rule.value)}::text`;
      case "ends_with":
        return (p) => `right(${ref}::text, length(${p(rule.value)}::text)) = ${p(rule.value)}::text`;
      case "contains":
        return (p) => `strpos(${ref}::text, ${p(rule.value)}::text) > 0`;
      default:
        return undefined;
    }
  }
  if (NUMBER_TYPES.has(column.typeName) && Number.isFinite(Number(rule.value)) && rule.value.trim() !== "") {
    const op = rule.rule === "equals" ? "=" : rule.rule === "<" ? "<" : rule.rule === ">" ? ">" : undefined;
    if (op === undefined) return undefined;
    return (p) => `${ref}::float8 ${op} ${p(Number(rule.value))}::float8`;
  }
  return undefined;
}
