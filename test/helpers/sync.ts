import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { expect } from "vitest";
import { DEFAULT_SYNC_OPTIONS, type PostgresConfig, type SyncOptions } from "../../src/config/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { prepareRules } from "../../src/sync/prepare.js";
import { ElasticsearchStateStore } from "../../src/sync/state-store.js";
import { allDocuments, stack } from "./stack.js";
import { SyncEngine, type SyncRequest, type SyncResult } from "../../src/sync/sync-engine.js";

export interface TestSyncOptions {
  index: string;
  source: PostgresConfig;
  es: EsClient;
  basic?: unknown[];
  advanced?: unknown;
  jobType?: "full" | "incremental";
  sync?: Partial<SyncOptions>;
  request?: Partial<SyncRequest>;
}

/** Runs a real sync (real PostgreSQL, real Elasticsearch) the way the CLI does. */
export async function runTestSync(options: TestSyncOptions): Promise<SyncResult> {
  const rules = await prepareRules({ basic: options.basic ?? [], advanced: options.advanced ?? [] });
  const source = new PostgresSource(options.source, connectionFactory(options.source));
  const engine = new SyncEngine({
    source,
    client: options.es,
    state: new ElasticsearchStateStore(options.es),
    logger: silentLogger,
  });
  return engine.run({
    indexName: options.index,
    jobType: options.jobType ?? "full",
    advancedRules: rules.advanced,
    basicRules: rules.basic,
    options: { ...DEFAULT_SYNC_OPTIONS, ...options.sync },
    ...options.request,
  });
}

/** The index holds exactly the rows of `schema`.item (id, name, qty), with the reference's ids and fields. */
export async function expectItemsIndexed(
  es: EsClient,
  admin: pg.Client,
  schema: string,
  index: string,
): Promise<void> {
  const docs = await allDocuments(es, index);
  const rows = await admin.query<{ id: number; name: string; qty: number }>(
    `SELECT id, name, qty FROM "${schema}".item`,
  );
  expect(docs.size).toBe(rows.rowCount);
  for (const row of rows.rows) {
    expect(docs.get(`${stack.pgDatabase()}_${schema}_item_${row.id}`), String(row.id)).toMatchObject({
      [`${schema}_item_name`]: row.name,
      [`${schema}_item_qty`]: row.qty,
    });
  }
}
