/**
 * Advanced sync rules of the PostgreSQL connector: a JSON array of `{tables, query, id_columns?}`
 * (Elastic's `PostgreSQLAdvancedRulesValidator` schema), each query read as a stream of documents.
 */
import { loadModule, parse } from "libpg-query";
import { SyncRuleError } from "../errors.js";

/** One advanced sync rule; `index` is its position in the array (errors say `advanced[index]`). */
export interface AdvancedRule {
  index: number;
  tables: string[];
  query: string;
  /** `id_columns`: the columns that identify a row, instead of the tables' primary keys. */
  idColumns?: string[];
}

const ALLOWED_KEYS = ["tables", "query", "id_columns"];

/**
 * Validates and normalises advanced rules. Accepts the array itself or its JSON text; `{}`, `[]`,
 * null, undefined and "" mean no rules (Kibana stores `{}` when there are none).
 *
 * Checks, as Elastic's JSON schema does, plus item types: an array of objects; `tables` a
 * non-empty array of non-empty strings; `query` a non-empty string; `id_columns`, when present, a
 * non-empty array of non-empty strings; no other property. Throws SyncRuleError naming the rule:
 * `advanced[1]: "tables" must be a non-empty array of table names`.
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
  if (isPlainObject(rules) && Object.keys(rules).length === 0) return [];
  if (!Array.isArray(rules)) {
    throw new SyncRuleError("advanced", "must be an array of {tables, query, id_columns?} objects");
  }
  return rules.map((rule: unknown, index): AdvancedRule => {
    const label = `advanced[${index}]`;
    if (!isPlainObject(rule)) throw new SyncRuleError(label, 'must be an object with "tables" and "query"');
    for (const key of Object.keys(rule)) {
      if (!ALLOWED_KEYS.includes(key)) {
        throw new SyncRuleError(label, `unknown property "${key}" (allowed: ${ALLOWED_KEYS.join(", ")})`);
      }
    }
    const { tables, query, id_columns: idColumns } = rule;
    if (!isNameList(tables))
      throw new SyncRuleError(label, '"tables" must be a non-empty array of table names');
    if (typeof query !== "string" || query.trim() === "") {
      throw new SyncRuleError(label, '"query" must be a non-empty string');
    }
    if (idColumns !== undefined && !isNameList(idColumns)) {
      throw new SyncRuleError(label, '"id_columns" must be a non-empty array of column names');
    }
    return idColumns === undefined
      ? { index, tables: [...tables], query }
      : { index, tables: [...tables], query, idColumns: [...idColumns] };
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNameList(value: unknown): value is string[] {
  return (
    Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && v.trim() !== "")
  );
}

// ------------------------------------------------------------------------------------------------
// The query, through PostgreSQL's own parser
// ------------------------------------------------------------------------------------------------

export type ParseTree = Awaited<ReturnType<typeof parse>>;

let parserReady: Promise<void> | undefined;

/** libpg-query 18 is WebAssembly: the module loads once, asynchronously, before the first parse. */
export async function parseQuery(query: string, label: string): Promise<ParseTree> {
  parserReady ??= loadModule();
  await parserReady;
  try {
    return await parse(query);
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const position = details?.cursorPosition;
    // The parser counts characters from 0; PostgreSQL reports them from 1, as here.
    const at = position === undefined || position < 0 ? "" : ` (at character ${position + 1})`;
    throw new SyncRuleError(label, `the query is not valid SQL: ${(error as Error).message}${at}`, {
      cause: error,
    });
  }
}

const LOCK_STRENGTH: Record<string, string> = {
  LCS_FORKEYSHARE: "FOR KEY SHARE",
  LCS_FORSHARE: "FOR SHARE",
  LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
  LCS_FORUPDATE: "FOR UPDATE",
};

/**
 * Requires the rule's query to be exactly one read-only SELECT, judged by PostgreSQL's own parser
 * (libpg-query): a SELECT, VALUES, TABLE, UNION/INTERSECT/EXCEPT or WITH whose every CTE is itself
 * a SELECT. Rejected, with SyncRuleError naming `advanced[i]`: syntax errors (the parser's message
 * and the character position), no statement or several, any other statement (INSERT, UPDATE,
 * DELETE, MERGE, DDL, EXPLAIN ANALYZE, ...), data-modifying CTEs (`WITH d AS (DELETE ...
 * RETURNING *) SELECT ...`), `SELECT ... INTO` (creates a table) and locking clauses
 * (`FOR UPDATE`/`FOR SHARE`, anywhere, subqueries included).
 *
 * Parsing cannot prove a query read-only: a function call may write (`SELECT my_func()`,
 * `lo_import(...)`, dblink). Those are refused against the server's catalog (functions.ts); rule
 * queries also run inside a READ ONLY transaction, and the connecting role's privileges apply.
 * Returns the statement's text, ready to be wrapped in a subquery.
 */
export async function assertReadOnlyQuery(rule: Pick<AdvancedRule, "index" | "query">): Promise<string> {
  const label = `advanced[${rule.index}]`;
  const tree = await parseQuery(rule.query, label);
  const statements = tree.stmts ?? [];
  if (statements.length !== 1) {
    throw new SyncRuleError(
      label,
      statements.length === 0
        ? "the query must be one SELECT statement, found no statement"
        : `the query must be exactly one SELECT statement, found ${statements.length} statements`,
    );
  }
  const statement = (statements[0]?.stmt ?? {}) as Record<string, unknown>;
  const kind = Object.keys(statement)[0];
  if (kind !== "SelectStmt")
    throw new SyncRuleError(label, `the query must be a SELECT, found ${describeStatement(kind)}`);
  const problem = findNonReadOnly(statement);
  if (problem !== undefined) throw new SyncRuleError(label, `the query must be read-only: ${problem}`);
  return statementText(rule.query, statements[0] ?? {});
}

/**
 * The statement's own text: without a trailing ";" and the comments after it, which could not
 * stand inside the subquery a rule is wrapped in. The parser counts bytes, not characters.
 */
function statementText(query: string, statement: { stmt_location?: number; stmt_len?: number }): string {
  const bytes = Buffer.from(query, "utf8");
  const start = statement.stmt_location ?? 0;
  const end =
    statement.stmt_len === undefined || statement.stmt_len === 0 ? bytes.length : start + statement.stmt_len;
  return bytes.subarray(start, end).toString("utf8").trim();
}

/** What makes a parsed SELECT not read-only, or undefined. Walks the whole tree. */
function findNonReadOnly(node: unknown): string | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findNonReadOnly(item);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isPlainObject(node)) return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key === "CommonTableExpr" && isPlainObject(value) && isPlainObject(value.ctequery)) {
      const inner = Object.keys(value.ctequery)[0];
      if (inner !== "SelectStmt") {
        return `WITH ${String(value.ctename)} is a data-modifying ${statementWords(inner)} statement (every CTE must be a SELECT)`;
      }
    }
    if (key.endsWith("Stmt") && key !== "SelectStmt") return `it contains ${describeStatement(key)}`;
    if (key === "intoClause") return "SELECT ... INTO creates a table";
    if (key === "lockingClause") {
      const strength = findStrength(value);
      return `${strength ?? "FOR UPDATE/SHARE"} locks rows`;
    }
    const found = findNonReadOnly(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

function findStrength(lockingClause: unknown): string | undefined {
  if (!Array.isArray(lockingClause)) return undefined;
  const first: unknown = lockingClause[0];
  if (!isPlainObject(first) || !isPlainObject(first.LockingClause)) return undefined;
  const strength = first.LockingClause.strength;
  return typeof strength === "string" ? LOCK_STRENGTH[strength] : undefined;
}

/** "CreateTableAsStmt" → "CREATE TABLE AS". */
function statementWords(kind: string | undefined): string {
  return (kind ?? "")
    .replace(/Stmt$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toUpperCase();
}

/** "InsertStmt" → "an INSERT statement", "DropStmt" → "a DROP statement". */
function describeStatement(kind: string | undefined): string {
  if (kind === undefined) return "nothing";
  const words = statementWords(kind);
  return `${/^[AEIOU]/.test(words) ? "an" : "a"} ${words} statement`;
}

/**
 * The tables and views a query reads: its RangeVar nodes, in order of appearance, without
 * duplicates and without references to the query's own CTEs (scoped as PostgreSQL scopes them:
 * a non-recursive CTE is visible to later CTEs and the main query, a recursive one also to
 * itself; a schema-qualified name is never a CTE). Throws SyncRuleError on a syntax error.
 */
export async function referencedTables(
  query: string,
  label = "advanced",
): Promise<{ schema?: string; name: string }[]> {
  const tree = await parseQuery(query, label);
  const found = new Map<string, { schema?: string; name: string }>();
  const walk = (node: unknown, ctes: ReadonlySet<string>): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, ctes);
      return;
    }
    if (!isPlainObject(node)) return;
    let scope = ctes;
    const withClause = node.withClause;
    if (isPlainObject(withClause) && Array.isArray(withClause.ctes)) {
      const defs = withClause.ctes.flatMap((c: unknown) =>
        isPlainObject(c) && isPlainObject(c.CommonTableExpr) ? [c.CommonTableExpr] : [],
      );
      const names = defs.map((d) => String(d.ctename));
      const recursive = withClause.recursive === true;
      defs.forEach((def, i) => {
        walk(def.ctequery, new Set([...ctes, ...(recursive ? names : names.slice(0, i))]));
      });
      scope = new Set([...ctes, ...names]);
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "withClause") continue;
      if (key === "RangeVar" && isPlainObject(value) && typeof value.relname === "string") {
        const schema = typeof value.schemaname === "string" ? value.schemaname : undefined;
        if (schema === undefined && scope.has(value.relname)) continue;
        const table = schema === undefined ? { name: value.relname } : { schema, name: value.relname };
        found.set(JSON.stringify([schema ?? null, value.relname]), table);
        continue;
      }
      walk(value, scope);
    }
  };
  walk(tree.stmts ?? [], new Set());
  return [...found.values()];
}
