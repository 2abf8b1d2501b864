/**
 * How a basic rule's value (always a string) is coerced to the type of the document value it is
 * compared with, as Elastic's connector service does (Python's float(), its boolean spellings).
 */

import { pyCompareStrings, pyFloat } from "./python.js";

const IS_BOOL_FALSE = /^(false|f|no|n|off)$/i;
const IS_BOOL_TRUE = /^(true|t|yes|y|on)$/i;

/**
 * Compares a document value with the rule value coerced to the document value's type: <0, 0 or
 * >0; NaN when unordered (a NaN operand: never equal, never less, never greater); undefined when
 * the rule value cannot be coerced (no match).
 */
export function compareCoerced(docValue: unknown, ruleValue: string): number | undefined {
  const order = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : a === b ? 0 : NaN);
  if (typeof docValue === "string") return pyCompareStrings(docValue, ruleValue);
  if (typeof docValue === "boolean") {
    const b =
      ruleValue.length === 0 || IS_BOOL_FALSE.test(ruleValue)
        ? false
        : IS_BOOL_TRUE.test(ruleValue)
          ? true
          : undefined;
    return b === undefined ? undefined : order(Number(docValue), Number(b));
  }
  if (typeof docValue === "number" || typeof docValue === "bigint") {
    const f = pyFloat(ruleValue);
    return f === undefined ? undefined : order(Number(docValue), f);
  }
  if (docValue instanceof Date) {
    const t = Date.parse(ruleValue);
    return Number.isNaN(t) ? undefined : order(docValue.getTime(), t);
  }
  return undefined;
}
