/** Quotes an identifier for PostgreSQL; identifiers are never pasted into SQL any other way. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** "schema"."table" */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** Quotes a string literal (only for values that cannot be bind parameters, e.g. SET TRANSACTION SNAPSHOT). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
