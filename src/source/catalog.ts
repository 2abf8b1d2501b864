import type { PgClient } from "./connection.js";
import { queryWithSignal } from "./connection.js";
import { SourceError } from "../errors.js";

/** A column as the catalog describes it; `sqlType` is format_type() output, usable in a cast. */
export interface ColumnInfo {
  name: string;
  sqlType: string;
  /** pg_type.typname of the column (or of the array element for arrays). */
  typeName: string;
  /** pg_type.typtype: b base, e enum, r range, m multirange, c composite, d domain. */
  typeKind: string;
  isArray: boolean;
}

export interface TableInfo {
  schema: string;
  name: string;
  /** r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: "r" | "p" | "v" | "m" | "f";
  columns: ColumnInfo[];
  /** Primary key columns in key order; empty when the table has none. */
  primaryKey: string[];
  /** Planner's row estimate (reltuples), -1 when never analyzed. */
  estimatedRows: number;
  canSelect: boolean;
  /** A partition of a partitioned table (compat mode syncs partitions, clean mode the parent). */
  isPartition: boolean;
}

const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       c.reltuples::bigint::text AS estimated_rows,
       has_table_privilege(c.oid, 'SELECT') AS can_select, c.relispartition AS is_partition,
       COALESCE((
         SELECT json_agg(a.attname ORDER BY k.ord)
         FROM pg_constraint pk
         CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE pk.conrelid = c.oid AND pk.contype = 'p'
       ), '[]'::json)::text AS primary_key,
       COALESCE((
         SELECT json_agg(json_build_object(
                  'name', a.attname,
                  'sqlType', format_type(a.atttypid, a.atttypmod),
                  'typeName', COALESCE(et.typname, t.typname),
                  'typeKind', COALESCE(et.typtype, bt.typtype, t.typtype),
                  'isArray', t.typcategory = 'A'
                ) ORDER BY a.attnum)
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type et ON t.typcategory = 'A' AND et.oid = t.typelem
         LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       ), '[]'::json)::text AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1::text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY n.nspname, c.relname`;

interface TableRow {
  schema: string;
  name: string;
  kind: TableInfo["kind"];
  estimated_rows: string;
  can_select: string;
  is_partition: string;
  primary_key: string;
  columns: string;
}

/**
 * Every relation of the given schemas, with columns and primary keys, partitions included
 * (planTables decides whether a partitioned table is read through its parent or per partition).
 */
export async function listTables(
  client: PgClient,
  schemas: string[],
  signal?: AbortSignal,
): Promise<TableInfo[]> {
  const result = await queryWithSignal<TableRow>(client, TABLES_SQL, [schemas], signal);
  return result.rows.map((row) => ({
    schema: row.schema,
    name: row.name,
    kind: row.kind,
    estimatedRows: Number(row.estimated_rows),
    canSelect: row.can_select === "t",
    isPartition: row.is_partition === "t",
    primaryKey: JSON.parse(row.primary_key) as string[],
    columns: (JSON.parse(row.columns) as (ColumnInfo & { isArray: boolean | null })[]).map((c) => ({
      ...c,
      isArray: c.isArray,
    })),
  }));
}

/** Result columns of a query (without running it), with their types, for advanced rules. */
export async function describeQuery(
  client: PgClient,
  query: string,
  signal?: AbortSignal,
): Promise<ColumnInfo[]> {
  // LIMIT 0 plans the query and returns its row description without reading data.
  const result = await queryWithSignal(client, `SELECT * FROM (${query}\n) AS q LIMIT 0`, [], signal);
  const oids = [...new Set(result.fields.map((f) => f.dataTypeID))];
  const types = await queryWithSignal<{
    oid: string;
    sql_type: string;
    type_name: string;
    type_kind: string;
    is_array: string;
  }>(
    client,
    `SELECT t.oid::text AS oid, format_type(t.oid, NULL) AS sql_type,
            COALESCE(et.typname, t.typname) AS type_name,
            COALESCE(et.typtype, bt.typtype, t.typtype) AS type_kind,
            (t.typcategory = 'A')::text AS is_array
     FROM pg_type t
     LEFT JOIN pg_type et ON t.typcategory = 'A' AND et.oid = t.typelem
     LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE t.oid = ANY($1::oid[])`,
    [oids],
    signal,
  );
  const byOid = new Map(types.rows.map((t) => [Number(t.oid), t]));
  return result.fields.map((field) => {
    const t = byOid.get(field.dataTypeID);
    return {
      name: field.name,
      sqlType: t?.sql_type ?? "text",
      typeName: t?.type_name ?? "text",
      typeKind: t?.type_kind ?? "b",
      isArray: t?.is_array === "true",
    };
  });
}

/** Server facts the reader adapts to. */
export interface ServerInfo {
  version: string;
  versionNum: number;
  commitTimestamps: boolean;
  hasPostgis: boolean;
  /** Schema the postgis extension lives in (its functions are called qualified). */
  postgisSchema: string | null;
}

export async function serverInfo(client: PgClient, signal?: AbortSignal): Promise<ServerInfo> {
  const result = await queryWithSignal<{ version: string; num: string; ts: string; postgis: string | null }>(
    client,
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            current_setting('track_commit_timestamp') AS ts,
            (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = 'postgis') AS postgis`,
    [],
    signal,
  );
  const row = result.rows[0];
  if (row === undefined) throw new Error("server info query returned no row");
  assertSupportedVersion(row.version, Number(row.num));
  return {
    version: row.version,
    versionNum: Number(row.num),
    commitTimestamps: row.ts === "on",
    hasPostgis: row.postgis !== null,
    postgisSchema: row.postgis,
  };
}

/** The oldest PostgreSQL pgsearch runs on; 12 to 18 are tested (docs/testing.md). */
export const MIN_SERVER_VERSION_NUM = 120000;

/**
 * Versions below 12 are out of upstream support and never tested here: say so at the first
 * query (every sync, validate and service job starts with it) instead of failing somewhere later.
 */
export function assertSupportedVersion(version: string, versionNum: number): void {
  if (versionNum >= MIN_SERVER_VERSION_NUM) return;
  throw new SourceError(
    `PostgreSQL ${version} is not supported: pgsearch needs PostgreSQL 12 or later (12 to 18 are tested)`,
    { code: "source_unsupported_version" },
  );
}

/** The configured schemas PostgreSQL does not have (a typo would otherwise sync nothing). */
export async function missingSchemas(
  client: PgClient,
  schemas: string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const result = await queryWithSignal<{ name: string }>(
    client,
    "SELECT s AS name FROM unnest($1::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s)",
    [schemas],
    signal,
  );
  return result.rows.map((row) => row.name);
}

/**
 * Privileges of the connecting role that pgsearch does not need (it reads with SELECT; only
 * `sync --follow` needs REPLICATION): each one widens what a rule query or a leaked password can do.
 */
export async function roleWarnings(
  client: PgClient,
  options: { follow?: boolean } = {},
  signal?: AbortSignal,
): Promise<string[]> {
  const result = await queryWithSignal<{ name: string; super: string; repl: string; roles: string }>(
    client,
    `SELECT r.rolname AS name, r.rolsuper::text AS super, r.rolreplication::text AS repl,
            concat_ws(', ', VARIADIC ARRAY(SELECT g FROM unnest(ARRAY['pg_read_server_files',
              'pg_write_server_files', 'pg_execute_server_program']) g
              WHERE pg_has_role(r.oid, g, 'MEMBER'))) AS roles
     FROM pg_roles r WHERE r.rolname = current_user`,
    [],
    signal,
  );
  const row = result.rows[0];
  if (row === undefined) return [];
  const warnings: string[] = [];
  if (row.super === "true") {
    warnings.push(
      `role ${row.name} is a superuser; pgsearch needs only SELECT on the synced tables (and REPLICATION for sync --follow)`,
    );
  } else {
    if (row.repl === "true" && options.follow !== true) {
      warnings.push(`role ${row.name} has REPLICATION, which only sync --follow needs`);
    }
    if (row.roles !== "")
      warnings.push(`role ${row.name} is a member of ${row.roles}, which pgsearch never needs`);
  }
  return warnings;
}
