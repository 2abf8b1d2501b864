import type { Client as EsClient } from "@elastic/elasticsearch";
import { defaultConnectorConfiguration } from "../../src/config/connector-fields.js";
import { CONNECTORS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument } from "../../src/service/protocol.js";
import { stack } from "./stack.js";

/** The PostgreSQL form values that point a connector at the test stack. */
export function stackConnectorValues(
  schema: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    host: stack.pgHost(),
    port: stack.pgPort(),
    username: stack.pgUser(),
    password: stack.pgPassword(),
    database: stack.pgDatabase(),
    schema,
    ...overrides,
  };
}

/** What Kibana writes when the user saves the connector's configuration form. */
export async function saveConnectorForm(
  es: EsClient,
  connectorId: string,
  values: Record<string, unknown>,
): Promise<void> {
  const doc = (await es.get<ConnectorDocument>({ index: CONNECTORS_INDEX, id: connectorId }))._source;
  // Kibana's form shows the fields the service registered; a connector made through the Connector
  // APIs gets them at the service's first poll, which this stands in for.
  const registered: Record<string, object> = defaultConnectorConfiguration();
  const configuration = { ...registered, ...(doc?.configuration ?? {}) } as Record<
    string,
    Record<string, unknown>
  >;
  for (const [key, value] of Object.entries(values)) configuration[key] = { ...configuration[key], value };
  await es.update({
    index: CONNECTORS_INDEX,
    id: connectorId,
    doc: { configuration, status: "configured" },
    refresh: true,
    retry_on_conflict: 10,
  });
}
