import type { Client } from "@elastic/elasticsearch";
import { PgSearchError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { ConnectorApiProtocol } from "./api-protocol.js";
import { IndexProtocol, PRODUCT_ORIGIN } from "./index-protocol.js";

/**
 * Picks the protocol backend: the Connector APIs when the cluster has them (as Elastic's service
 * does by default), else direct access to the system indices. Says which at start-up.
 */
export async function chooseProtocol(
  client: Client,
  wanted: "auto" | "api" | "index",
  logger: Logger,
): Promise<IndexProtocol> {
  const hasApis = await client.transport
    .request({ method: "GET", path: "/_connector", querystring: { size: "1" } }, PRODUCT_ORIGIN)
    .then(() => true)
    .catch(() => false);
  if (wanted === "api" && !hasApis) {
    throw new PgSearchError("pgsearch.protocol is api, but the cluster does not answer GET _connector", {
      code: "config_invalid",
    });
  }
  if (wanted === "api" || (wanted === "auto" && hasApis)) {
    logger.info({}, "using the Connector APIs (protocol: api)");
    return new ConnectorApiProtocol(client);
  }
  logger.info(
    {},
    hasApis
      ? "using direct system-index access (protocol: index)"
      : "the cluster has no Connector APIs: using direct system-index access (protocol: index)",
  );
  return new IndexProtocol(client);
}
