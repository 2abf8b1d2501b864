import type { PostgresConfig } from "../config/postgres-config.js";
import { SourceError, SyncRuleError } from "../errors.js";
import type { AdvancedRule } from "../rules/advanced.js";
import type { ColumnInfo, ServerInfo, TableInfo } from "./catalog.js";
import type { PushedFilter } from "../rules/pushdown.js";
import { qualifiedName, quoteIdent } from "./sql.js";

/**
 * One unit the reader streams: a table, or an advanced rule's query. Everything the reader and
 * the document builder need is decided here, once, from the catalog.
 */
export interface SourceStream {
  /** Stable name used in checkpoints, progress and documents: "public.employee" or "advanced[0]". */
  id: string;
  kind: "table" | "query";
  /** The configured schema the stream belongs to (the documents' `schema` field). */
  schema: string;
  /** Table names as they appear in documents (`table` field, id and field prefixes). */
  tables: string[];
  /** A table name, or a parenthesised query; always safe SQL built from quoted identifiers. */
  fromSql: string;
  /** Result columns in order; for queries, each is referenced positionally as c0, c1, ... */
  columns: ColumnInfo[];
  /** Output field name per column, or null when a later column with the same name wins. */
  fieldNames: (string | null)[];
  /** Indexes into `columns` of the key (primary key or id_columns), in key order. */
  keyIndexes: number[];
  /** Values rendered as Elastic's connector writes them (document_mode compat). */
  compat?: boolean | undefined;
  /** Whether rows have an xmin (so a per-row commit timestamp can be read). */
  hasXmin: boolean;
  /** Planner estimate of the rows to read, for progress; -1 unknown. */
  estimatedRows: number;
  /** Basic sync rules translated to SQL (then they are not applied in memory). */
  filter?: PushedFilter | undefined;
  /**
   * Query streams: for each listed table whose primary key is in the result, where those key
   * columns are. Documents record these parts, so a change to one table finds the rows it affects.
   */
  parts?: StreamPart[] | undefined;
}

export interface StreamPart {
  /** "schema.table" as logical replication names it. */
  relation: string;
  /** Quoted, qualified table name for publications. */
  tableSql: string;
  /** Indexes into `columns` of the table's primary key, in key order. */
  columnIndexes: number[];
}

/** Column references as the reader's SELECT spells them (tables by name, queries by position). */
export function columnRef(stream: SourceStream, index: number): string {
  const column = stream.columns[index];
  if (column === undefined) throw new Error(`column ${index} out of range`);
  return stream.kind === "query" ? `s.c${index}` : `s.${quoteIdent(column.name)}`;
}

export interface SkippedTable {
  table: string;
  reason: string;
}

export interface SourcePlan {
  streams: SourceStream[];
  skipped: SkippedTable[];
  server: ServerInfo;
}

/** Prefix of compat field names: "{schema}_{sorted tables joined by _}_", lower-cased later. */
export function compatPrefix(schema: string, tables: string[]): string {
  return `${schema}_${[...tables].sort().join("_")}_`;
}

/** Output field names; when two map to the same name the later column wins, as in the reference. */
export function fieldNamesFor(
  columns: ColumnInfo[],
  mode: PostgresConfig["documentMode"],
  schema: string,
  tables: string[],
): (string | null)[] {
  const prefix = compatPrefix(schema, tables);
  const names = columns.map((c) => (mode === "compat" ? `${prefix}${c.name}`.toLowerCase() : c.name));
  const lastIndex = new Map<string, number>();
  names.forEach((name, i) => lastIndex.set(name, i));
  return names.map((name, i) => (lastIndex.get(name) === i ? name : null));
}

export function tableStream(table: TableInfo, mode: PostgresConfig["documentMode"]): SourceStream {
  const keyIndexes = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
  return {
    id: `${table.schema}.${table.name}`,
    kind: "table",
    schema: table.schema,
    tables: [table.name],
    fromSql: qualifiedName(table.schema, table.name),
    columns: table.columns,
    fieldNames: fieldNamesFor(table.columns, mode, table.schema, [table.name]),
    compat: mode === "compat",
    keyIndexes,
    hasXmin: table.kind === "r" || table.kind === "p" || table.kind === "m",
    estimatedRows: table.estimatedRows,
  };
}

/** Resolves the configured `tables` against the catalog; returns streams and what was skipped. */
export function planTables(
  config: PostgresConfig,
  catalog: TableInfo[],
): { streams: SourceStream[]; skipped: SkippedTable[] } {
  const streams: SourceStream[] = [];
  const skipped: SkippedTable[] = [];
  const wildcard = config.tables.includes("*");
  const compat = config.documentMode === "compat";
  // Clean mode reads a partitioned table once, through its parent; compat mode reads each
  // partition as a table of its own, as Elastic's connector does (its ids name the partition).
  if (!compat) catalog = catalog.filter((t) => !t.isPartition);
  let selected: TableInfo[];
  if (wildcard) {
    selected = catalog;
  } else {
    const unknown: string[] = [];
    selected = [];
    for (const wanted of config.tables) {
      const found = resolveTableName(wanted, config.schemas, catalog);
      if (found === undefined) unknown.push(wanted);
      else if (!selected.includes(found)) selected.push(found);
    }
    if (unknown.length > 0) {
      throw new SourceError(
        `tables not found or inaccessible in schema ${config.schemas.join(", ")}: ${unknown.join(", ")}`,
        { code: "source_unknown_tables" },
      );
    }
  }
  for (const table of selected) {
    const name = `${table.schema}.${table.name}`;
    if (!table.canSelect) {
      if (!wildcard) throw new SourceError("no SELECT privilege", { table: name, code: "source_permission" });
      skipped.push({ table: name, reason: "no SELECT privilege for this user" });
    } else if (compat && table.kind === "p") {
      skipped.push({
        table: name,
        reason:
          "partitioned table: its partitions are synced as tables of their own, as Elastic's connector does (document_mode clean reads the parent as one table)",
      });
    } else if (table.primaryKey.length === 0) {
      const what = table.kind === "v" || table.kind === "m" ? "is a view" : "has no primary key";
      skipped.push({
        table: name,
        reason: `${what}; add an advanced sync rule with id_columns to sync it`,
      });
    } else {
      streams.push(tableStream(table, config.documentMode));
    }
  }
  return { streams, skipped };
}

/** "table" is looked up in the configured schemas (must be unambiguous); "schema.table" directly. */
export function resolveTableName(
  wanted: string,
  schemas: string[],
  catalog: TableInfo[],
): TableInfo | undefined {
  const exact = catalog.filter((t) => schemas.includes(t.schema) && t.name === wanted);
  if (exact.length === 1) return exact[0];
  const dot = wanted.indexOf(".");
  if (exact.length === 0 && dot > 0) {
    const schema = wanted.slice(0, dot);
    const name = wanted.slice(dot + 1);
    return catalog.find((t) => t.schema === schema && t.name === name);
  }
  if (exact.length > 1) {
    throw new SourceError(
      `table name "${wanted}" exists in several schemas (${exact.map((t) => t.schema).join(", ")}); write it as schema.table`,
      { code: "source_ambiguous_table" },
    );
  }
  return undefined;
}

/**
 * An advanced rule as a stream. `resultColumns` come from describing the query; key columns are
 * `id_columns`, else the primary keys of the listed tables, and must be in the result.
 */
export function queryStream(
  rule: AdvancedRule,
  config: PostgresConfig,
  catalog: TableInfo[],
  resultColumns: ColumnInfo[],
): SourceStream {
  const label = `advanced[${rule.index}]`;
  const schema = config.schemas[0] ?? "public";
  const tables: TableInfo[] = [];
  const missing: string[] = [];
  for (const name of rule.tables) {
    const found = resolveTableName(name, config.schemas, catalog);
    if (found === undefined) missing.push(name);
    else tables.push(found);
  }
  if (missing.length > 0)
    throw new SyncRuleError(label, `tables not found or inaccessible: ${missing.join(", ")}`);
  const keyNames = rule.idColumns ?? tables.flatMap((t) => t.primaryKey);
  if (keyNames.length === 0) {
    throw new SyncRuleError(
      label,
      `the tables ${rule.tables.join(", ")} have no primary key; give "id_columns"`,
    );
  }
  const keyIndexes: number[] = [];
  const notInResult: string[] = [];
  for (const key of keyNames) {
    let index = resultColumns.findIndex((c) => c.name === key);
    if (index < 0) index = resultColumns.findIndex((c) => c.name.toLowerCase() === key.toLowerCase());
    if (index < 0) notInResult.push(key);
    else keyIndexes.push(index);
  }
  if (notInResult.length > 0) {
    throw new SyncRuleError(
      label,
      `id column(s) ${notInResult.join(", ")} not in the query's result (columns: ${resultColumns.map((c) => c.name).join(", ")})`,
    );
  }
  const findColumn = (name: string): number => resultColumns.findIndex((c) => c.name === name);
  const parts: StreamPart[] = [];
  for (const table of tables) {
    const columnIndexes = table.primaryKey.map(findColumn);
    if (columnIndexes.length > 0 && columnIndexes.every((i) => i >= 0)) {
      parts.push({
        relation: `${table.schema}.${table.name}`,
        tableSql: qualifiedName(table.schema, table.name),
        columnIndexes,
      });
    }
  }
  return {
    id: label,
    kind: "query",
    schema,
    tables: rule.tables,
    parts,
    // The newline keeps a trailing "-- comment" from swallowing the closing parenthesis.
    fromSql: `(${stripTrailingSemicolon(rule.query)}\n)`,
    columns: resultColumns,
    fieldNames: fieldNamesFor(resultColumns, config.documentMode, schema, rule.tables),
    compat: config.documentMode === "compat",
    keyIndexes,
    hasXmin: false,
    estimatedRows: -1,
  };
}

/** Users often end a query with ";" which cannot stand inside a subquery. */
export function stripTrailingSemicolon(query: string): string {
  return query.trim().replace(/;\s*$/, "");
}
