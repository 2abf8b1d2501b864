import { loadModule, parse } from "libpg-query";
import { SyncRuleError } from "../errors.js";

/** One advanced sync rule, as in the reference: `{tables, query, id_columns?}`. */
export interface AdvancedRule {
  index: number;
  tables: string[];
  query: string;
  idColumns?: string[];
}

const ALLOWED_KEYS = new Set(["tables", "query", "id_columns"]);

/**
 * Validates the shape of the advanced rules (an array, or its JSON text; `{}`, `[]`, null or ""
 * mean none), with errors naming the rule: `advanced[1]: "tables" must be ...`.
 */
export function parseAdvancedRules(value: unknown): AdvancedRule[] {
  let rules = value;
  if (typeof rules === "string") {
    if (rules.trim() === "") return [];
    try {
      rules = JSON.parse(rules);
    } catch (error) {
      throw new SyncRuleError("advanced", `is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (rules === null || rules === undefined) return [];
  if (typeof rules === "object" && !Array.isArray(rules) && Object.keys(rules).length === 0) return [];
  if (!Array.isArray(rules))
    throw new SyncRuleError("advanced", "must be an array of {tables, query, id_columns?} objects");
  return rules.map((rule: unknown, index) => {
    const label = `advanced[${index}]`;
    if (rule === null || typeof rule !== "object" || Array.isArray(rule)) {
      throw new SyncRuleError(label, 'must be an object with "tables" and "query"');
    }
    const r = rule as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!ALLOWED_KEYS.has(key))
        throw new SyncRuleError(label, `unknown property "${key}" (allowed: tables, query, id_columns)`);
    }
    if (!isStringArray(r.tables))
      throw new SyncRuleError(label, '"tables" must be a non-empty array of table names');
    if (typeof r.query !== "string" || r.query.trim() === "")
      throw new SyncRuleError(label, '"query" must be a non-empty string');
    if (r.id_columns !== undefined && !isStringArray(r.id_columns)) {
      throw new SyncRuleError(label, '"id_columns" must be a non-empty array of column names');
    }
    return {
      index,
      tables: r.tables,
      query: r.query,
      ...(r.id_columns === undefined ? {} : { idColumns: r.id_columns }),
    };
  });
}

function isStringArray(value: unknown): value is string[] {
  return (
    Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && v.trim() !== "")
  );
}

let parserReady: Promise<void> | undefined;

/**
 * Requires the rule's query to be exactly one plain SELECT, checked with PostgreSQL's own parser:
 * no INSERT/UPDATE/DELETE/MERGE anywhere (data-modifying CTEs included), no SELECT INTO, no
 * FOR UPDATE/SHARE. Function calls cannot be proven harmless by parsing, so queries also run
 * inside a READ ONLY transaction: the second line of defence.
 */
export async function assertReadOnlyQuery(rule: AdvancedRule): Promise<void> {
  const label = `advanced[${rule.index}]`;
  parserReady ??= loadModule();
  await parserReady;
  let tree: { stmts?: { stmt?: Record<string, unknown> }[] };
  try {
    tree = await parse(rule.query);
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const at = details?.cursorPosition === undefined ? "" : ` at character ${details.cursorPosition + 1}`;
    throw new SyncRuleError(label, `the query is not valid SQL: ${(error as Error).message}${at}`);
  }
  const statements = tree.stmts ?? [];
  if (statements.length !== 1) {
    throw new SyncRuleError(
      label,
      `the query must be exactly one SELECT statement, found ${statements.length} statements`,
    );
  }
  const statement = statements[0]?.stmt ?? {};
  const kind = Object.keys(statement)[0];
  if (kind !== "SelectStmt")
    throw new SyncRuleError(label, `the query must be a SELECT, found ${describe(kind)}`);
  const problem = findWrite(statement);
  if (problem !== undefined)
    throw new SyncRuleError(label, `the query must be read-only: it contains ${problem}`);
}

const WRITES: Record<string, string> = {
  InsertStmt: "an INSERT",
  UpdateStmt: "an UPDATE",
  DeleteStmt: "a DELETE",
  MergeStmt: "a MERGE",
};

function findWrite(node: unknown): string | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findWrite(item);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (node === null || typeof node !== "object") return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key in WRITES) return `${WRITES[key] ?? key} (data-modifying statement)`;
    if (key === "intoClause") return "SELECT ... INTO (creates a table)";
    if (key === "lockingClause") return "FOR UPDATE/SHARE (locks rows)";
    const found = findWrite(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

function describe(kind: string | undefined): string {
  if (kind === undefined) return "nothing";
  return kind
    .replace(/Stmt$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toUpperCase();
}

/** Tables a query reads (RangeVar nodes), without CTE names. */
export async function referencedTables(query: string): Promise<{ schema?: string; name: string }[]> {
  parserReady ??= loadModule();
  await parserReady;
  const tree = await parse(query);
  const ctes = new Set<string>();
  const found: { schema?: string; name: string }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "CommonTableExpr") ctes.add(String((value as { ctename?: string }).ctename));
      if (key === "RangeVar") {
        const v = value as { schemaname?: string; relname: string };
        found.push({ ...(v.schemaname === undefined ? {} : { schema: v.schemaname }), name: v.relname });
      }
      walk(value);
    }
  };
  walk(tree);
  return found.filter((t) => t.schema !== undefined || !ctes.has(t.name));
}
