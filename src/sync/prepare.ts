import { SyncRuleError } from "../errors.js";
import type { AdvancedRule } from "../rules/advanced.js";
import { assertReadOnlyQuery, parseAdvancedRules } from "../rules/advanced.js";
import { BasicRuleEngine, validateBasicRules } from "../rules/basic.js";

export interface PreparedRules {
  advanced: AdvancedRule[];
  basic: BasicRuleEngine;
}

/**
 * Validates sync rules locally (shape, read-only SQL) before anything touches a server. Basic
 * rule errors are reported together; the first advanced rule error stops.
 */
export async function prepareRules(rules: { basic: unknown[]; advanced: unknown }): Promise<PreparedRules> {
  const basic = validateBasicRules(rules.basic);
  if (basic.errors.length > 0) {
    const first = basic.errors[0];
    const all = basic.errors.map((e) => `[${e.ids.join(", ")}] ${e.messages.join("; ")}`).join(" | ");
    throw new SyncRuleError(`basic${first === undefined ? "" : `[id=${first.ids.join(",")}]`}`, all);
  }
  return { advanced: await prepareAdvancedRules(rules.advanced), basic: new BasicRuleEngine(basic.rules) };
}

/**
 * Advanced rules checked locally (shape, one read-only SELECT), as a sync takes them; the first
 * error stops. What they may call and read is judged against the server by `PostgresSource.plan`.
 */
export async function prepareAdvancedRules(value: unknown): Promise<AdvancedRule[]> {
  const advanced: AdvancedRule[] = [];
  for (const rule of parseAdvancedRules(value)) {
    advanced.push({ ...rule, query: await assertReadOnlyQuery(rule) });
  }
  return advanced;
}
