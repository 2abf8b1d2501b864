/**
 * Access to the real test stack started by scripts/stack.sh (`eval "$(scripts/stack.sh env)"`).
 * Every test file creates its own schema / index names, so files can run in parallel.
 */
import { Client as EsClient } from "@elastic/elasticsearch";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { resolvePostgresConfig, type PostgresConfig } from "../../src/config/index.js";
import { connectElasticsearch } from "../../src/sink/es-client.js";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set: run the tests through 'npm test' or eval "$(scripts/stack.sh env)" first`,
    );
  }
  return value;
}

export const stack = {
  pgHost: () => required("PGHOST"),
  pgPort: () => Number(required("PGPORT")),
  pgUser: () => required("PGUSER"),
  pgPassword: () => required("PGPASSWORD"),
  pgDatabase: () => required("PGDATABASE"),
  esUrl: () => required("ES_URL"),
  tlsDir: () => required("PGSEARCH_TLS_DIR"),
};

/** A short random suffix for schema and index names. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

/** A superuser connection for fixtures (creating schemas, tables, rows). */
export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({
    host: stack.pgHost(),
    port: stack.pgPort(),
    user: stack.pgUser(),
    password: stack.pgPassword(),
    database: stack.pgDatabase(),
  });
  await client.connect();
  return client;
}

/** A resolved source configuration pointing at the stack, with overrides as plain config values. */
export function sourceConfig(overrides: Record<string, unknown> = {}): PostgresConfig {
  return resolvePostgresConfig({
    host: stack.pgHost(),
    port: stack.pgPort(),
    username: stack.pgUser(),
    password: stack.pgPassword(),
    database: stack.pgDatabase(),
    schema: "public",
    tables: "*",
    ...overrides,
  });
}

export async function esClient(): Promise<EsClient> {
  return (await connectElasticsearch({ host: stack.esUrl(), requestTimeoutMs: 60_000 })).client;
}

/**
 * Every document of an index, as id → source, after a refresh (for equality checks). A scroll, so the
 * pages come from one view of the index: `_doc` order with search_after but no point in time skips
 * documents when a merge renumbers them between pages (seen under load).
 */
export async function allDocuments(
  client: EsClient,
  index: string,
): Promise<Map<string, Record<string, unknown>>> {
  await client.indices.refresh({ index });
  const docs = new Map<string, Record<string, unknown>>();
  let page = await client.search<Record<string, unknown>>({
    index,
    size: 5000,
    scroll: "2m",
    sort: ["_doc"],
    query: { match_all: {} },
  });
  try {
    while (page.hits.hits.length > 0) {
      for (const hit of page.hits.hits) docs.set(hit._id ?? "", hit._source ?? {});
      if (page._scroll_id === undefined) break;
      page = await client.scroll<Record<string, unknown>>({ scroll_id: page._scroll_id, scroll: "2m" });
    }
  } finally {
    if (page._scroll_id !== undefined)
      await client.clearScroll({ scroll_id: page._scroll_id }).catch(() => undefined);
  }
  return docs;
}

/** pgsearch's bookkeeping of every document (kept out of _source, read from doc values): id → fields. */
export async function bookkeeping(
  client: EsClient,
  index: string,
): Promise<Map<string, { source?: string; key?: string; h?: number }>> {
  await client.indices.refresh({ index });
  const result = await client.search({
    index,
    size: 10_000,
    _source: false,
    docvalue_fields: ["_pgsearch.source", "_pgsearch.key", "_pgsearch.h"],
  });
  return new Map(
    result.hits.hits.map((hit) => {
      const first = (name: string): unknown =>
        (hit.fields?.[`_pgsearch.${name}`] as unknown[] | undefined)?.[0];
      return [
        hit._id ?? "",
        { source: first("source") as string, key: first("key") as string, h: first("h") as number },
      ];
    }),
  );
}
