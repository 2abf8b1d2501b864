/**
 * Elastic's basic sync rules: ordered include/exclude rules on document fields, first match wins,
 * no match means include. Values are coerced to the document value's type, as Elastic's
 * BasicRule does (numbers compare as numbers, everything else as strings).
 */
export type BasicRuleOperator = "equals" | "contains" | "starts_with" | "ends_with" | "regex" | ">" | "<";

export interface BasicRule {
  id: string;
  field: string;
  rule: BasicRuleOperator;
  value: string;
  policy: "include" | "exclude";
  order: number;
}

export interface RuleValidationError {
  ids: string[];
  messages: string[];
}

const OPERATORS: BasicRuleOperator[] = ["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"];
const MATCH_ALL = new Set([".*", "(.*)", "^.*$", "^(.*)$", ".*$", "^.*"]);

export const DEFAULT_RULE_ID = "DEFAULT";

/** Validates rules with the checks and error shape Kibana shows ({ids, messages}). */
export function validateBasicRules(input: unknown): { rules: BasicRule[]; errors: RuleValidationError[] } {
  const errors: RuleValidationError[] = [];
  const rules: BasicRule[] = [];
  if (input === undefined || input === null) return { rules, errors };
  if (!Array.isArray(input))
    return { rules, errors: [{ ids: [], messages: ["basic rules must be a list"] }] };
  input.forEach((raw: unknown, i) => {
    const r = (raw ?? {}) as Record<string, unknown>;
    const id = typeof r.id === "string" && r.id !== "" ? r.id : `rule-${i}`;
    const messages: string[] = [];
    if (typeof r.field !== "string" || r.field === "")
      messages.push(`rule ${id}: "field" must be a non-empty string`);
    if (!OPERATORS.includes(r.rule as BasicRuleOperator))
      messages.push(`rule ${id}: "rule" must be one of ${OPERATORS.join(", ")}`);
    if (typeof r.value !== "string" || r.value === "")
      messages.push(`rule ${id}: "value" must be a non-empty string`);
    if (r.policy !== "include" && r.policy !== "exclude")
      messages.push(`rule ${id}: "policy" must be include or exclude`);
    if (r.order !== undefined && typeof r.order !== "number")
      messages.push(`rule ${id}: "order" must be a number`);
    if (r.rule === "regex" && typeof r.value === "string") {
      try {
        new RegExp(r.value);
      } catch (error) {
        messages.push(`rule ${id}: invalid regular expression: ${(error as Error).message}`);
      }
      if (MATCH_ALL.has(r.value) && id !== DEFAULT_RULE_ID) {
        messages.push(
          `rule ${id}: a rule matching everything ("${r.value}") is only allowed as the default rule`,
        );
      }
    }
    if (messages.length > 0) {
      errors.push({ ids: [id], messages });
      return;
    }
    if (id === DEFAULT_RULE_ID) return; // the implicit last rule
    rules.push({
      id,
      field: r.field as string,
      rule: r.rule as BasicRuleOperator,
      value: r.value as string,
      policy: r.policy as BasicRule["policy"],
      order: typeof r.order === "number" ? r.order : i + 1,
    });
  });
  const seen = new Map<string, string>();
  for (const rule of rules) {
    const key = `${rule.field}\u0000${rule.rule}\u0000${rule.value}`;
    const other = seen.get(key);
    if (other !== undefined) {
      errors.push({
        ids: [other, rule.id],
        messages: [`rules ${other} and ${rule.id} are duplicates (same field, rule and value)`],
      });
    } else {
      seen.set(key, rule.id);
    }
  }
  return { rules, errors };
}

export class BasicRuleEngine {
  private readonly ordered: (BasicRule & { regex?: RegExp })[];

  constructor(readonly rules: BasicRule[]) {
    this.ordered = [...rules]
      .sort((a, b) => a.order - b.order)
      // Python's re.match anchors at the start only, not at the end.
      .map((r) => (r.rule === "regex" ? { ...r, regex: new RegExp(`^(?:${r.value})`) } : r));
  }

  /** No rule but the default: every document is indexed. */
  get isMatchAll(): boolean {
    return this.ordered.length === 0;
  }

  shouldIndex(doc: Record<string, unknown>): boolean {
    for (const rule of this.ordered) {
      if (matches(rule, doc)) return rule.policy === "include";
    }
    return true;
  }
}

function matches(rule: BasicRule & { regex?: RegExp }, doc: Record<string, unknown>): boolean {
  if (!(rule.field in doc)) return false;
  const value = doc[rule.field];
  if (value === null || value === undefined) return false;
  const text = toText(value);
  switch (rule.rule) {
    case "starts_with":
      return text.startsWith(rule.value);
    case "ends_with":
      return text.endsWith(rule.value);
    case "contains":
      return text.includes(rule.value);
    case "regex":
      return rule.regex?.test(text) ?? false;
    case "equals":
      return compare(value, rule.value) === 0;
    case "<":
      return (compare(value, rule.value) ?? 0) < 0;
    case ">":
      return (compare(value, rule.value) ?? 0) > 0;
  }
}

/** Compares a document value with a rule value coerced to the document value's type. */
function compare(value: unknown, ruleValue: string): number | undefined {
  if (typeof value === "number") {
    const n = Number(ruleValue);
    if (Number.isNaN(n)) return String(value) === ruleValue ? 0 : String(value) < ruleValue ? -1 : 1;
    return value === n ? 0 : value < n ? -1 : 1;
  }
  if (typeof value === "boolean") {
    const b = /^(true|1|yes|on)$/i.test(ruleValue.trim());
    return value === b ? 0 : undefined;
  }
  const text = toText(value);
  return text === ruleValue ? 0 : text < ruleValue ? -1 : 1;
}

/** Objects and arrays (json columns) compare by their JSON text. */
function toText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}
