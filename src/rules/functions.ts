/**
 * What an advanced rule's query may call. A READ ONLY transaction does not stop functions that
 * create large objects, replication slots, change settings, read the server's files, signal
 * backends, take advisory locks or notify: so every function the query calls (directly, through
 * an operator, or through a view it reads) is looked up in the server's own catalog (`pg_proc`)
 * and refused when it belongs to one of those families or is VOLATILE outside a short allow-list.
 */
import type { PgClient } from "../source/connection.js";
import { queryWithSignal } from "../source/connection.js";
import { SyncRuleError } from "../errors.js";
import { parseQuery, referencedTables } from "./advanced.js";
import { quoteIdent } from "../source/sql.js";

/** Families of built-in functions that change state or reach outside the database, by name. */
const FAMILIES: [RegExp, string][] = [
  [/^(lo_\w+|lo(open|close|read|write|creat|import|export|unlink|seek|tell|truncate)\w*)$/, "large-object"],
  [
    /^pg_(\w+_replication_slot|replication_\w+|logical_\w+|copy_\w+_slot|create_restore_point|switch_wal|backup_\w+|(start|stop)_backup|promote|wal_replay_\w+)$/,
    "replication/WAL",
  ],
  [
    /^pg_(read_file|read_binary_file|read_file_old|ls_\w+|stat_file|file_\w+|current_logfile|hba_file_rules|ident_file_mappings|show_all_file_settings)$/,
    "server-file",
  ],
  [
    /^(set_config|setseed|pg_reload_conf|pg_rotate_logfile\w*|pg_stat_reset\w*|pg_import_system_collations)$/,
    "configuration",
  ],
  [/^pg_(cancel_backend|terminate_backend|signal_backend|log_backend_memory_contexts)$/, "signalling"],
  [/^pg_(try_)?advisory_\w+$/, "advisory-lock"],
  [/^pg_notify$/, "notify"],
  [/^(dblink\w*|query_to_xml\w*|cursor_to_xml\w*|ts_stat|ts_rewrite)$/, "query-running"],
];

/** VOLATILE built-ins that only read a clock, a random source or commit times. */
const VOLATILE_ALLOWED = new Set([
  "random",
  "random_normal",
  "clock_timestamp",
  "timeofday",
  "gen_random_uuid",
  "uuidv4",
  "uuidv7",
  "pg_xact_commit_timestamp",
]);

interface ProcRow {
  oid: string;
  schema: string;
  name: string;
  volatile: string;
  language: string;
  body: string | null;
}

/** Why calling this function is refused, or undefined when it is safe. */
export function functionRisk(proc: Omit<ProcRow, "oid">): string | undefined {
  const family = FAMILIES.find(([pattern]) => pattern.test(proc.name))?.[1];
  if (family !== undefined) return `${article(family)} ${family} function`;
  // Built-in or compiled (pgcrypto's gen_random_uuid lives in the extension's schema); a SQL or
  // PL/pgSQL function of the same name is the user's own and judged like any other.
  const compiled = proc.language === "internal" || proc.language === "c";
  if (proc.volatile === "v" && !(compiled && VOLATILE_ALLOWED.has(proc.name))) {
    return "VOLATILE (it may change state)";
  }
  // A function written in SQL or PL/pgSQL may be labelled STABLE and still call one of them.
  if (proc.body !== null && !compiled) {
    for (const word of proc.body.toLowerCase().match(/[a-z_][a-z0-9_]*(?=\s*\()/g) ?? []) {
      const inner = FAMILIES.find(([pattern]) => pattern.test(word))?.[1];
      if (inner !== undefined)
        return `a function whose body calls ${word} (${article(inner)} ${inner} function)`;
    }
  }
  return undefined;
}

const article = (word: string): string => (/^[aeiou]/.test(word) ? "an" : "a");

interface Calls {
  functions: { schema?: string; name: string }[];
  operators: string[];
}

/** Function and operator names in a parse tree (FuncCall and A_Expr nodes, subqueries included). */
function collectCalls(node: unknown, calls: Calls): Calls {
  if (Array.isArray(node)) {
    for (const item of node) collectCalls(item, calls);
  } else if (typeof node === "object" && node !== null) {
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      const v = value as { funcname?: unknown; name?: unknown };
      if (key === "FuncCall") {
        const parts = names(v.funcname);
        const name = parts[parts.length - 1];
        if (name !== undefined) {
          calls.functions.push(parts.length > 1 ? { schema: parts[parts.length - 2], name } : { name });
        }
      } else if (key === "A_Expr") {
        const op = names(v.name).at(-1);
        if (op !== undefined) calls.operators.push(op);
      }
      collectCalls(value, calls);
    }
  }
  return calls;
}

function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: { String?: { sval?: unknown } }) =>
    typeof item.String?.sval === "string" ? [item.String.sval] : [],
  );
}

const PROC_COLUMNS = `p.oid::text AS oid, n.nspname AS schema, p.proname AS name, p.provolatile AS volatile,
  l.lanname AS language, CASE WHEN l.lanname IN ('internal', 'c') THEN NULL ELSE p.prosrc END AS body
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang`;

/**
 * Refuses (SyncRuleError naming the rule and the function) a rule query that calls a function
 * which can change state or read the server's files. Run on a connection whose search_path is the
 * one the query will run with, before the query is planned (planning folds IMMUTABLE calls).
 */
export async function assertSafeFunctions(
  client: PgClient,
  rule: { index: number; query: string },
  signal?: AbortSignal,
): Promise<void> {
  const label = `advanced[${rule.index}]`;
  const path = (
    await queryWithSignal<{ s: string }>(client, "SELECT unnest(current_schemas(true)) AS s", [], signal)
  ).rows.map((r) => r.s);
  await checkQuery({ client, label, path, signal, seen: new Set() }, rule.query, "calls");
}

interface CheckContext {
  client: PgClient;
  label: string;
  path: string[];
  signal: AbortSignal | undefined;
  /** Views already checked (a view may be read twice, or through another view). */
  seen: Set<string>;
}

/** Checks one query's functions and operators, then the definitions of the views it reads. */
async function checkQuery(context: CheckContext, query: string, how: string): Promise<void> {
  const { client, label, signal } = context;
  const calls = collectCalls((await parseQuery(query, label)).stmts, { functions: [], operators: [] });
  const byName = await queryWithSignal<ProcRow>(
    client,
    `SELECT ${PROC_COLUMNS} WHERE p.proname = ANY($1::text[])`,
    [[...new Set(calls.functions.map((f) => f.name))]],
    signal,
  );
  for (const call of calls.functions) {
    // Overloads are resolved by argument types across every schema on the path: judge them all.
    const schemas = call.schema === undefined ? context.path : [call.schema];
    for (const proc of byName.rows.filter((p) => schemas.includes(p.schema) && p.name === call.name)) {
      refuseRisky(label, proc, how);
    }
  }
  const operators = await queryWithSignal<ProcRow & { op: string }>(
    client,
    `SELECT o.oprname AS op, ${PROC_COLUMNS} JOIN pg_operator o ON o.oprcode = p.oid
     WHERE o.oprname = ANY($1::text[])`,
    [[...new Set(calls.operators)]],
    signal,
  );
  for (const proc of operators.rows) refuseRisky(label, proc, `${how} operator ${proc.op}, which calls`);
  // A view runs its own query with the reader's rights: check its definition as PostgreSQL prints it.
  const relations = (await referencedTables(query, label)).map((t) =>
    t.schema === undefined ? quoteIdent(t.name) : `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
  );
  const views = await queryWithSignal<{ name: string; definition: string }>(
    client,
    `SELECT c.oid::regclass::text AS name, pg_get_viewdef(c.oid) AS definition
     FROM unnest($1::text[]) r JOIN pg_class c ON c.oid = to_regclass(r) WHERE c.relkind = 'v'`,
    [relations],
    signal,
  );
  for (const view of views.rows) {
    if (context.seen.has(view.name)) continue;
    context.seen.add(view.name);
    await checkQuery(context, view.definition, `reads view ${view.name}, which calls`);
  }
}

function refuseRisky(label: string, proc: ProcRow, how: string): void {
  const risk = functionRisk(proc);
  if (risk === undefined) return;
  throw new SyncRuleError(
    label,
    `the query ${how} ${proc.schema}.${proc.name}, ${risk}; rule queries may only call functions that cannot change state or read the server's files`,
  );
}
