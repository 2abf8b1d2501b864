import type { ServerInfo } from "./catalog.js";
import type { PgClient } from "./connection.js";
import { queryWithSignal } from "./connection.js";
import { columnRef, type SourceStream } from "./plan.js";
import { keyExpression, renderExpression } from "./render.js";
import { quoteIdent } from "./sql.js";

/** Rows committed this long before the previous sync's snapshot are read again (cheap: hash-skipped). */
export const INCREMENTAL_OVERLAP_SECONDS = 10;

/** One row as the reader hands it on: the document body is JSON rendered by PostgreSQL. */
export interface SourceRow {
  /** Key column values as PostgreSQL's text output, in key order; null for a NULL part. */
  key: (string | null)[];
  /** JSON object text with the output field names, e.g. {"public_employee_name":"John"}. */
  doc: string;
  /** JSON string of the row's commit time ("\"2024-...+00:00\""), or null when unknown. */
  committedAt: string | null;
  /** Query streams: "schema.table:[key]" of each listed table the row came from. */
  parts?: string[] | undefined;
}

/**
 * The SELECT that renders each row as a JSON document. PostgreSQL does the type conversion (in C)
 * so numerics and int8 keep every digit, timestamps come out as ISO-8601 in UTC, arrays and
 * json stay structured; a few types get an explicit conversion below.
 */
export function buildSelect(
  stream: SourceStream,
  server: Pick<ServerInfo, "commitTimestamps" | "hasPostgis" | "postgisSchema">,
  options: {
    resume?: boolean;
    changedSince?: boolean;
    keysIn?: boolean;
    columnsIn?: number[];
    /** Which keys exist, without rendering documents (doc is "{}", ts null). */
    keysOnly?: boolean;
  },
): { sql: string; keyTypes: string[]; filterParams: unknown[] } {
  const ref = (i: number): string => columnRef(stream, i);
  const keyRefs = stream.keyIndexes.map(ref);
  const keyTypes = stream.keyIndexes.map((i) => stream.columns[i]?.sqlType ?? "text");
  const selectList = selectColumns(stream, server, options.keysOnly === true);
  const from =
    stream.kind === "query"
      ? `${stream.fromSql} AS s(${stream.columns.map((_, i) => `c${i}`).join(", ")})`
      : `${stream.fromSql} AS s`;
  const where: string[] = [];
  let param = 1;
  if (options.resume === true) {
    const params = keyTypes.map((type) => `$${param++}::${type}`);
    where.push(`(${keyRefs.join(", ")}) > (${params.join(", ")})`);
  }
  if (options.columnsIn !== undefined) {
    // Rows whose given columns (a listed table's key, for query streams) match one of the arrays.
    const refs = options.columnsIn.map(ref);
    const arrays = options.columnsIn.map(
      (i) => `$${param++}::text[]::${stream.columns[i]?.sqlType ?? "text"}[]`,
    );
    where.push(`(${refs.join(", ")}) IN (SELECT * FROM unnest(${arrays.join(", ")}))`);
  }
  if (options.keysIn === true) {
    // One text[] parameter per key column, zipped by unnest: an index lookup per key.
    const arrays = keyTypes.map((type) => `$${param++}::text[]::${type}[]`);
    where.push(`(${keyRefs.join(", ")}) IN (SELECT * FROM unnest(${arrays.join(", ")}))`);
  }
  if (options.changedSince === true && stream.hasXmin && server.commitTimestamps) {
    // Rows whose commit time is unknown (committed before track_commit_timestamp was on) are
    // included: better re-sent than missed.
    // The overlap covers transactions that committed while the previous snapshot was being taken.
    where.push(
      `COALESCE(pg_xact_commit_timestamp(s.xmin) >= $${param++}::timestamptz - interval '${INCREMENTAL_OVERLAP_SECONDS} seconds', true)`,
    );
  }
  const filterParams: unknown[] = [];
  if (stream.filter !== undefined) {
    where.push(
      stream.filter.render((value) => {
        filterParams.push(value);
        return `$${param++}`;
      }),
    );
  }
  const sql =
    `SELECT ${selectList.join(", ")} FROM ${from}` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY ${keyRefs.join(", ")}`;
  return { sql, keyTypes, filterParams };
}

/** Key texts, the rendered document (unless keysOnly), the commit time and a query stream's parts. */
function selectColumns(
  stream: SourceStream,
  server: Pick<ServerInfo, "commitTimestamps" | "hasPostgis" | "postgisSchema">,
  keysOnly: boolean,
): string[] {
  const ref = (i: number): string => columnRef(stream, i);
  const docColumns: string[] = [];
  stream.columns.forEach((column, i) => {
    const field = stream.fieldNames[i];
    if (field === null || field === undefined) return;
    docColumns.push(
      `${renderExpression(column, ref(i), server, stream.compat === true)} AS ${quoteIdent(field)}`,
    );
  });
  return [
    ...stream.keyIndexes.map((column, i) => `${keyText(stream, column)} AS k${i}`),
    // `d.*` can only name the subquery: a bare `d` would bind to a user's column "d" first.
    keysOnly
      ? "'{}'::text AS doc"
      : `(SELECT row_to_json(d.*) FROM (SELECT ${docColumns.length > 0 ? docColumns.join(", ") : "1 AS _"}) AS d)::text AS doc`,
    stream.hasXmin && server.commitTimestamps && !keysOnly
      ? "to_json(pg_xact_commit_timestamp(s.xmin))::text AS ts"
      : "NULL::text AS ts",
    ...(stream.parts ?? []).flatMap((part, n) =>
      part.columnIndexes.map((i, j) => `${keyText(stream, i)} AS p${n}_${j}`),
    ),
  ];
}

/**
 * The stream's keys after `after` in key order, without rendering documents: used to find the
 * row that made a read fail (documents are then rendered a few keys at a time).
 */
export function buildKeySelect(stream: SourceStream, limit: number, resume: boolean): string {
  const keyRefs = stream.keyIndexes.map((i) => columnRef(stream, i));
  const from =
    stream.kind === "query"
      ? `${stream.fromSql} AS s(${stream.columns.map((_, i) => `c${i}`).join(", ")})`
      : `${stream.fromSql} AS s`;
  const keyTypes = stream.keyIndexes.map((i) => stream.columns[i]?.sqlType ?? "text");
  const where = resume
    ? ` WHERE (${keyRefs.join(", ")}) > (${keyTypes.map((t, i) => `$${i + 1}::${t}`).join(", ")})`
    : "";
  return (
    `SELECT ${stream.keyIndexes.map((column, i) => `${keyText(stream, column)} AS k${i}`).join(", ")} FROM ${from}${where}` +
    ` ORDER BY ${keyRefs.join(", ")} LIMIT ${String(Math.max(1, Math.floor(limit)))}`
  );
}

function keyText(stream: SourceStream, index: number): string {
  return keyExpression(stream.columns[index], columnRef(stream, index));
}

export interface ReadOptions {
  /** Rows per FETCH. */
  batchRows: number;
  /** Continue after this key (from a checkpoint or after a dropped connection). */
  after?: (string | null)[] | undefined;
  /** Only rows committed at or after this time (incremental syncs). */
  changedSince?: string | undefined;
  signal?: AbortSignal | undefined;
}

let cursorCounter = 0;

/** "schema.table:[\"1\"]" for each part of a query stream's row (see StreamPart). */
export function rowParts(stream: SourceStream, row: Record<string, string | null>): string[] | undefined {
  if (stream.parts === undefined || stream.parts.length === 0) return undefined;
  return stream.parts.map((part, n) =>
    partTerm(
      part.relation,
      part.columnIndexes.map((_, j) => row[`p${n}_${j}`] ?? null),
    ),
  );
}

/** The `_pgsearch.parts` term of a listed table's key: "schema.table:[\"1\"]". */
export function partTerm(relation: string, key: (string | null)[]): string {
  return `${relation}:${JSON.stringify(key)}`;
}

/**
 * Streams a stream's rows in key order through a server-side cursor, on a client whose
 * transaction already holds the sync's snapshot. Memory is bounded by one batch.
 */
export async function* readStream(
  client: PgClient,
  stream: SourceStream,
  server: ServerInfo,
  options: ReadOptions,
): AsyncGenerator<SourceRow[]> {
  const resume = options.after !== undefined;
  const changedSince = options.changedSince !== undefined;
  const { sql, filterParams } = buildSelect(stream, server, { resume, changedSince });
  const params: unknown[] = [];
  if (resume) params.push(...(options.after ?? []));
  if (changedSince) params.push(options.changedSince);
  params.push(...filterParams);
  const cursor = `pgsearch_${++cursorCounter}`;
  await queryWithSignal(client, `DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, params, options.signal);
  const keyCount = stream.keyIndexes.length;
  const batchRows = Math.max(1, Math.floor(options.batchRows));
  const fetchNext = (): Promise<{ rows: Record<string, string | null>[] }> => {
    const pending = queryWithSignal<Record<string, string | null>>(
      client,
      `FETCH FORWARD ${batchRows} FROM ${cursor}`,
      undefined,
      options.signal,
    );
    // Awaited below; if the consumer stops first, its failure must not be an unhandled rejection.
    pending.catch(() => undefined);
    return pending;
  };
  try {
    // One FETCH ahead: PostgreSQL produces the next batch while this one is decided and sent.
    let next = fetchNext();
    for (;;) {
      const result = await next;
      const fetched = result.rows.length;
      if (fetched === 0) return;
      const more = fetched >= batchRows;
      if (more) next = fetchNext();
      const rows: SourceRow[] = new Array<SourceRow>(fetched);
      for (let r = 0; r < fetched; r++) {
        const row = result.rows[r] as Record<string, string | null>;
        const key = new Array<string | null>(keyCount);
        for (let k = 0; k < keyCount; k++) key[k] = row[`k${k}`] ?? null;
        rows[r] = { key, doc: row.doc ?? "{}", committedAt: row.ts ?? null, parts: rowParts(stream, row) };
      }
      // The driver's row objects are not needed any more: they must not live on while the
      // consumer waits on Elasticsearch with this generator suspended.
      result.rows.length = 0;
      yield rows;
      if (!more) return;
    }
  } finally {
    // The cursor dies with the transaction anyway; closing it frees server memory sooner.
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
}
