import type { AppConfig } from "../config/app-config.js";
import type { Logger } from "../observability/logger.js";
import { connectElasticsearch, type ConnectedElasticsearch } from "../sink/es-client.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { ElasticsearchStateStore } from "../sync/state-store.js";
import { SyncEngine } from "../sync/sync-engine.js";

/** Builds the object graph for a standalone sync: the driver and client are created here only. */
export async function wireStandalone(
  config: AppConfig,
  logger: Logger,
  signal?: AbortSignal,
): Promise<{
  source: PostgresSource;
  es: ConnectedElasticsearch;
  engine: SyncEngine;
  close: () => Promise<void>;
}> {
  const source = new PostgresSource(config.source, connectionFactory(config.source), {
    onRetry: ({ stream, attempt, error }) => {
      logger.warn(
        { table: stream, attempt, err: error },
        `connection to PostgreSQL lost while reading ${stream}; resuming`,
      );
    },
  });
  const es = await connectElasticsearch(config.elasticsearch, signal);
  const engine = new SyncEngine({
    source,
    client: es.client,
    state: new ElasticsearchStateStore(es.client),
    logger,
  });
  return {
    source,
    es,
    engine,
    close: async () => {
      await es.client.close();
    },
  };
}
