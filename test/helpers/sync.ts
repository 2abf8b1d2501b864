import type { Client as EsClient } from "@elastic/elasticsearch";
import { DEFAULT_SYNC_OPTIONS, type PostgresConfig, type SyncOptions } from "../../src/config/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { prepareRules } from "../../src/sync/prepare.js";
import { ElasticsearchStateStore } from "../../src/sync/state-store.js";
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
