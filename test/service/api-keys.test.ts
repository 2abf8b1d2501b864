import type { Client as EsClient } from "@elastic/elasticsearch";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTORS_INDEX, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, JobDocument } from "../../src/service/protocol.js";
import { runCliAsync, startServe } from "../helpers/cli.js";
import { startConnectorApiEmulator, type ConnectorApiEmulator } from "../helpers/connector-api-emulator.js";
import { saveConnectorForm, stackConnectorValues } from "../helpers/connectors.js";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, stack, uniqueName } from "../helpers/stack.js";
import { waitFor } from "../helpers/wait.js";

let admin: pg.Client;
let es: EsClient;
let emulator: ConnectorApiEmulator;
const schema = uniqueName("apikeys");
const connectorId = uniqueName("key-connector").replaceAll("_", "-");
const indexName = `search-${connectorId}`;
const dir = mkdtempSync(join(tmpdir(), "pgsearch-apikeys-"));

function writeConfig(name: string, apiKey?: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      "elasticsearch:",
      `  host: ${emulator.url}`,
      "service.idling: 0.5",
      "connectors:",
      `  - connector_id: ${connectorId}`,
      "    service_type: postgresql",
      ...(apiKey === undefined ? [] : [`    api_key: ${apiKey}`]),
    ].join("\n"),
  );
  return path;
}

/** Runs `serve` until the job it is given finishes; returns the job and the service's logs. */
async function runJobThroughService(
  configPath: string,
): Promise<{ job: JobDocument | undefined; logs: string }> {
  const service = startServe(configPath);
  try {
    const started = await runCliAsync("job", "start", connectorId, "-c", configPath);
    expect(started.status, started.stderr).toBe(0);
    const jobId = started.stdout.trim();
    const job = await waitFor(
      async () => (await es.get<JobDocument>({ index: JOBS_INDEX, id: jobId }))._source,
      (j) => j?.status === "completed" || j?.status === "error",
      () => `job ${jobId} to end; logs:\n${service.logs()}`,
    );
    return { job, logs: service.logs() };
  } finally {
    // SIGTERM suspends what runs and exits 0; the test's own timeout guards a hang.
    expect(await service.stop()).toBe(0);
  }
}

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  emulator = await startConnectorApiEmulator(stack.esUrl(), es);
  await createReferenceTables(admin, schema);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: indexName }).catch(() => undefined);
  await emulator.close();
  await admin.end();
  await es.close();
});

// API-key CREATION is emulated: the test distribution's security module cannot create API keys
// (its security index needs analysis-common, which the integ-test zip lacks). Everything that
// needs real authentication (wrong api_key, username/password) runs against a security-enabled
// node in security.test.ts.
describe("API keys (key creation emulated: the test distribution cannot create API keys)", () => {
  // One test: the key the first step creates is what the second step uses, so neither depends on
  // another test having run.
  it("connector create --create-api-key asks for the reference's role and records the key id; that key then writes the content index, the service's own credentials the rest", async () => {
    const created = await runCliAsync(
      "connector",
      "create",
      "-c",
      writeConfig("plain.yml"),
      "--id",
      connectorId,
      "--index-name",
      indexName,
      "--create-api-key",
    );
    expect(created.status, created.stderr).toBe(0);
    expect(emulator.apiKeyRequests).toHaveLength(1);
    expect(emulator.apiKeyRequests[0]).toMatchObject({
      name: `${indexName}-connector`,
      role_descriptors: {
        [`${indexName}-connector-role`]: {
          cluster: ["monitor", "manage_connector"],
          indices: [
            {
              names: expect.arrayContaining([indexName, `.search-acl-filter-${indexName}`]) as unknown,
              privileges: ["all"],
            },
          ],
        },
      },
    });
    const printed = /connectors\[\]\.api_key:\n(\S+)/.exec(created.stdout);
    expect(printed, created.stdout).not.toBeNull();
    const encodedKey = printed?.[1] ?? "";
    const keyId = Buffer.from(encodedKey, "base64").toString("utf8").split(":")[0];
    const doc = (await es.get<ConnectorDocument>({ index: CONNECTORS_INDEX, id: connectorId }))._source;
    expect(doc?.api_key_id).toBe(keyId);

    await saveConnectorForm(es, connectorId, stackConnectorValues(schema, { tables: "employee" }));

    const before = emulator.forwarded.length;
    const { job, logs } = await runJobThroughService(writeConfig("with-key.yml", encodedKey));
    expect(job, logs).toMatchObject({ status: "completed", indexed_document_count: 3 });
    const requests = emulator.forwarded.slice(before);
    const bulk = requests.filter((r) => r.path === `/${indexName}/_bulk`);
    expect(bulk.length).toBeGreaterThan(0);
    for (const r of bulk) expect(r.authorization).toBe(`ApiKey ${encodedKey}`);
    // Connector and job documents go through the service's credentials (none on this cluster).
    const system = requests.filter((r) => r.path.includes(".elastic-connectors"));
    for (const r of system) expect(r.authorization).toBeUndefined();
    expect(logs).not.toContain(encodedKey);
  });
});
