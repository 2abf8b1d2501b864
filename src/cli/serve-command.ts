import type { Client } from "@elastic/elasticsearch";
import type { Server } from "node:http";
import { ConfigError } from "../errors.js";
import { createLogger, normalizeLogLevel } from "../observability/logger.js";
import { Metrics } from "../observability/metrics.js";
import { chooseProtocol } from "../service/choose-protocol.js";
import { ConnectorService } from "../service/connector-service.js";
import { loadServiceConfig } from "../service/service-config.js";
import { clientWithCredentials, connectElasticsearch } from "../sink/es-client.js";
import { metricsPort } from "./cli-metrics.js";
import { EXIT, reportError } from "./exit-codes.js";

export async function runServe(
  path: string,
  levelFlag: string | undefined,
  metricsAt: { port: string | undefined; host: string },
): Promise<number> {
  let config: ReturnType<typeof loadServiceConfig>;
  let level: string;
  let port: number | undefined;
  try {
    port = metricsAt.port === undefined ? undefined : metricsPort(metricsAt.port);
    config = loadServiceConfig(path);
    level = normalizeLogLevel(
      levelFlag ?? config.service.logLevel ?? "info",
      levelFlag === undefined ? "service.log_level" : "--log-level",
    );
  } catch (error) {
    return reportError(error);
  }
  const logger = await createLogger({ level, ecs: true });
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.canceled);
    logger.info({}, "stopping: running jobs are suspended and resume on restart");
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // Everything opened is closed on the way out, failed start-ups included, so the process ends.
  const clients: Client[] = [];
  let metricsServer: Server | undefined;
  try {
    const es = await connectElasticsearch(config.elasticsearch, controller.signal);
    clients.push(es.client);
    if (es.engine === "opensearch") throw serveNeedsElasticsearch(es.version);
    logger.info({ version: es.version }, `Elasticsearch ${es.version} reachable`);
    const protocol = await chooseProtocol(es.client, config.protocol, logger);
    const metrics = port === undefined ? undefined : new Metrics();
    const elasticsearchReady = async (): Promise<string | undefined> => {
      await es.client.cluster.health({}, { requestTimeout: 5000 });
      return undefined;
    };
    metricsServer = await metrics?.listen(port ?? 0, metricsAt.host, [elasticsearchReady]);
    if (metricsServer !== undefined)
      logger.info(
        { pgsearch: { metrics: { host: metricsAt.host, port: metricsAt.port } } },
        `Prometheus metrics on http://${metricsAt.host}:${metricsAt.port}/metrics (health: /healthz, /readyz)`,
      );
    // Elastic's per-connector api_key: that connector's content writes use its own key.
    const contentClients = new Map<string, Client>();
    for (const managed of config.connectors) {
      if (managed.apiKey === undefined) continue;
      const own = clientWithCredentials(
        { ...config.elasticsearch, apiKey: managed.apiKey, username: undefined, password: undefined },
        es,
      );
      clients.push(own);
      contentClients.set(managed.connectorId, own);
    }
    const service = new ConnectorService({
      config,
      protocol,
      client: es.client,
      logger,
      metrics,
      contentClient: (id) => contentClients.get(id),
    });
    await service.run(controller.signal);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    metricsServer?.close();
    for (const client of clients) await client.close().catch(() => undefined);
  }
}

/** The service is driven from Kibana through Elasticsearch's connector indices: OpenSearch has neither. */
function serveNeedsElasticsearch(version: string): ConfigError {
  return new ConfigError(
    "elasticsearch.host",
    `the server is OpenSearch ${version}; the connector service (serve) works with Elasticsearch only ` +
      "(Kibana manages its connectors). Use `pgsearch sync` (with --incremental or --follow) for OpenSearch",
  );
}
