import type { Client } from "@elastic/elasticsearch";
import { PgSearchError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { ConnectorApiProtocol } from "./api-protocol.js";
import { IndexProtocol } from "./index-protocol.js";
import type { ConnectorProtocol } from "./protocol.js";

/**
 * Picks the protocol backend: the Connector APIs when the cluster has them (as Elastic's service
 * does by default), else direct access to the system indices. Says which at start-up.
 */
export async function chooseProtocol(
  client: Client,
  wanted: "auto" | "api" | "index",
  logger: Logger,
): Promise<ConnectorProtocol> {
  const hasApis = await client.transport
    .request({ method: "GET", path: "/_connector", querystring: { size: "1" } })
    .then(() => true)
    .catch(() => false);
  if (wanted === "api" || (wanted === "auto" && hasApis)) {
    // The Connector API backend is not built yet: say so rather than pretend.
    if (wanted === "api") {
      throw new PgSearchError("pgsearch.protocol: api is not available in this version; use index or auto", {
        code: "config_invalid",
      });
    }
    logger.warn(
      {},
      "the cluster offers the Connector APIs; this version uses direct system-index access (protocol: index)",
    );
  } else {
    logger.info(
      {},
      hasApis
        ? "using direct system-index access (protocol: index)"
        : "the cluster has no Connector APIs: using direct system-index access",
    );
  }
  return new IndexProtocol(client);
}
