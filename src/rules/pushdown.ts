/**
 * The pushdown as the sync engine calls it: columns described by the catalog, placeholders
 * numbered by the reader. A thin adapter over compileBasicRulesPushdown (basic.ts), which holds
 * the translation and its proof of exactness.
 */
import { compileBasicRulesPushdown, type BasicRule, type BasicRuleSqlColumn } from "./basic.js";

/** What a stream tells the pushdown about its columns. */
export interface PushdownColumn {
  /** Document field name (compat: `{schema}_{table}_{column}`). */
  field: string;
  /** SQL expression of the column in the stream's SELECT. */
  ref: string;
  /** pg_type.typname (of the element type for arrays). */
  typeName: string;
  /** pg_type.typtype: "e" for enums. */
  typeKind?: string;
  isArray: boolean;
}

/** A translated rule chain: the SQL condition and the values it binds, in order. */
export interface PushedFilter {
  /** Renders the condition; `param(value)` returns the placeholder bound to `value`. */
  render(param: (value: unknown) => string): string;
  /**
   * True when the condition decides alone. Otherwise some rules did not translate: the rows it
   * lets through must still pass the rules in memory (it never drops a row they would keep).
   */
  exact: boolean;
}

/** Types whose document value is their `::text` output as a JSON string (not char(n): padding). */
const TEXT_TYPES = new Set(["text", "varchar", "name", "citext"]);
/** Types row_to_json renders as JSON numbers (or "NaN"/"Infinity" strings). */
const NUMBER_TYPES = new Set(["int2", "int4", "int8", "float4", "float8", "numeric"]);

export function columnKind(
  column: Pick<PushdownColumn, "typeName" | "typeKind" | "isArray">,
): BasicRuleSqlColumn["type"] {
  if (column.isArray) return "other";
  if (TEXT_TYPES.has(column.typeName) || column.typeKind === "e") return "text";
  if (NUMBER_TYPES.has(column.typeName)) return "number";
  return "other";
}

/**
 * The SQL part of the rules: the longest prefix of the ordered chain that translates exactly
 * (see compileBasicRulesPushdown), or undefined when not even the first rule does.
 */
export function pushDownBasicRules(rules: BasicRule[], columns: PushdownColumn[]): PushedFilter | undefined {
  const sqlColumns = columns.map((c) => ({ field: c.field, sql: c.ref, type: columnKind(c) }));
  const dryRun = compileBasicRulesPushdown(rules, sqlColumns, () => "NULL");
  if (dryRun.where === null) return undefined;
  return {
    render: (param) => compileBasicRulesPushdown(rules, sqlColumns, param).where ?? "TRUE",
    exact: dryRun.residual.length === 0,
  };
}
