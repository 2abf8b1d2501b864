import type { Client } from "@elastic/elasticsearch";

/**
 * The two search engines pgsearch writes to. They share the document, bulk and search APIs it
 * uses; where they differ (scans, a few field types) the sink asks `engineOf(client)`.
 */
export type Engine = "elasticsearch" | "opensearch";

const engines = new WeakMap<Client, Engine>();

/** Records which engine a client talks to (done once, when the client is built). */
export function rememberEngine(client: Client, engine: Engine): void {
  engines.set(client, engine);
}

/** The engine behind a client; clients built elsewhere (tests, tools) are Elasticsearch. */
export function engineOf(client: Client): Engine {
  return engines.get(client) ?? "elasticsearch";
}

export function engineName(engine: Engine): string {
  return engine === "opensearch" ? "OpenSearch" : "Elasticsearch";
}
