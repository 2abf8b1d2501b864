/** What the in-process connector service tests share: config, Kibana's writes, waiting. */
import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, expect } from "vitest";
import { DEFAULT_SYNC_OPTIONS } from "../../src/config/index.js";
import { ConnectorApiProtocol } from "../../src/service/api-protocol.js";
import { CONNECTORS_INDEX, IndexProtocol } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, ConnectorProtocol, JobDocument } from "../../src/service/protocol.js";
import type { Logger } from "../../src/observability/logger.js";
import type { ServiceConfig } from "../../src/service/service-config.js";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { startConnectorApiEmulator, type ConnectorApiEmulator } from "./connector-api-emulator.js";
import { createReferenceTables, dropSchema } from "./fixtures.js";
import { adminClient, esClient, stack, uniqueName } from "./stack.js";
import { waitFor } from "./wait.js";

/** A service config polling fast, through the index protocol unless the caller's protocol says otherwise. */
export function testServiceConfig(
  connectorIds: string[],
  service: Partial<ServiceConfig["service"]> = {},
): ServiceConfig {
  return {
    elasticsearch: { host: stack.esUrl(), requestTimeoutMs: 60_000 },
    connectors: connectorIds.map((connectorId) => ({ connectorId, serviceType: "postgresql" })),
    service: {
      idling: 0.2,
      heartbeat: 300,
      maxConcurrentContentSyncs: 2,
      jobCleanupInterval: 3600,
      idleJobTimeout: 300,
      staleLockTimeout: 300,
      statsInterval: 0.5,
      cancelCheckInterval: 0.3,
      ...service,
    },
    protocol: "index",
    sync: { ...DEFAULT_SYNC_OPTIONS, batchRows: 1000, bulkMaxDocs: 1000, bulkConcurrency: 1 },
  };
}

/** What Kibana / PUT _connector/<id> writes for a new connector. */
export async function createTestConnector(
  es: EsClient,
  indexName: string,
  extra: Partial<ConnectorDocument> = {},
): Promise<string> {
  const id = uniqueName("conn");
  await es.index({
    index: CONNECTORS_INDEX,
    id,
    document: {
      name: id,
      index_name: indexName,
      service_type: "postgresql",
      status: "created",
      is_native: false,
      configuration: {},
      ...extra,
    },
    refresh: true,
  });
  return id;
}

/** What Kibana writes when the user saves the configuration form. */
export async function configureConnector(
  protocol: ConnectorProtocol,
  id: string,
  values: Record<string, unknown>,
): Promise<void> {
  const connector = await protocol.getConnector(id);
  const configuration = { ...(connector?.doc.configuration ?? {}) } as Record<string, { value: unknown }>;
  for (const [key, value] of Object.entries(values)) configuration[key] = { ...configuration[key], value };
  await protocol.updateConnector(id, { configuration, status: "configured" });
}

export async function connectorDoc(protocol: ConnectorProtocol, id: string): Promise<ConnectorDocument> {
  const found = await protocol.getConnector(id);
  if (found === undefined) throw new Error(`no connector ${id}`);
  return found.doc;
}

export async function jobDoc(protocol: ConnectorProtocol, id: string): Promise<JobDocument> {
  const found = await protocol.getJob(id);
  if (found === undefined) throw new Error(`no job ${id}`);
  return found.doc;
}

/** Polls `probe` until it gives a value (waitFor); the timeout only guards against a hang. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000, // a hang guard: callers wait for events
): Promise<T> {
  return (await waitFor(probe, (value) => value !== undefined, what, timeoutMs)) as T;
}

/** A logger that keeps every message, to check what the service said (and did not say). */
export function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = [];
  const keep = (_obj: object, msg?: string): void => {
    if (msg !== undefined) messages.push(msg);
  };
  const logger: Logger & { messages: string[] } = {
    messages,
    debug: keep,
    info: keep,
    warn: keep,
    error: keep,
    child: () => logger,
  };
  return logger;
}

/**
 * Runs a describe block's service through `backend`. Both backends go through the Connector API
 * emulator (the api backend for its endpoints, the index backend as a proxy), which checks every
 * system-index document read or written against Elasticsearch's parser rules: the block ends
 * with no violation. `es` gives the file's client (made in its beforeAll).
 */
export function protocolUnderTest(
  backend: "index" | "api",
  es: () => EsClient,
): { protocol: () => ConnectorProtocol; emulator: () => ConnectorApiEmulator | undefined } {
  let emulator: ConnectorApiEmulator | undefined;
  let client: EsClient | undefined;
  let protocol: ConnectorProtocol | undefined;
  beforeAll(async () => {
    emulator = await startConnectorApiEmulator(stack.esUrl(), es());
    client = (await connectElasticsearch({ host: emulator.url, requestTimeoutMs: 60_000 })).client;
    protocol = backend === "api" ? new ConnectorApiProtocol(client) : new IndexProtocol(client);
  });
  afterAll(async () => {
    expect(emulator?.violations).toEqual([]);
    await client?.close();
    await emulator?.close();
  });
  return {
    protocol: () => made(protocol),
    emulator: () => emulator,
  };
}

/**
 * A service test file's servers: an admin PostgreSQL client, an Elasticsearch client, the
 * connector indices, and the reference's tables in a schema of its own; all dropped afterwards.
 */
export function serviceTestStack(prefix: string): {
  schema: string;
  admin: () => pg.Client;
  es: () => EsClient;
  /** The direct-index protocol, for what the tests read and write as Kibana does. */
  protocol: () => IndexProtocol;
} {
  const schema = uniqueName(prefix);
  let admin: pg.Client | undefined;
  let es: EsClient | undefined;
  let protocol: IndexProtocol | undefined;
  beforeAll(async () => {
    admin = await adminClient();
    es = await esClient();
    protocol = new IndexProtocol(es);
    await protocol.prepare();
    await createReferenceTables(admin, schema);
  });
  afterAll(async () => {
    await dropSchema(made(admin), schema);
    await made(es)
      .indices.delete({ index: `${schema.replaceAll("_", "-")}*` })
      .catch(() => undefined);
    await admin?.end();
    await es?.close();
  });
  return { schema, admin: () => made(admin), es: () => made(es), protocol: () => made(protocol) };
}

function made<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("made in beforeAll");
  return value;
}
