import type { Client } from "@elastic/elasticsearch";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { ConnectorProtocol } from "./protocol.js";
import type { ServiceConfig } from "./service-config.js";

export interface ServiceDependencies {
  config: ServiceConfig;
  protocol: ConnectorProtocol;
  /** Client for content indices (per-connector API keys are applied by the caller). */
  client: Client;
  logger: Logger;
  /** Name written as the job's worker_hostname; several services on one host need distinct names. */
  workerName?: string;
  metrics?: Metrics | undefined;
  /**
   * Client for a connector's content index when config.yml gives that connector its own
   * `api_key` (Elastic's per-connector override); `client` otherwise.
   */
  contentClient?: ((connectorId: string) => Client | undefined) | undefined;
}

/** The content-index client of a connector. */
export function contentClientFor(deps: ServiceDependencies, connectorId: string): Client {
  return deps.contentClient?.(connectorId) ?? deps.client;
}
