import type { Client as EsClient } from "@elastic/elasticsearch";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CONNECTORS_INDEX, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, JobDocument } from "../../src/service/protocol.js";
import { runCli, startServe } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { saveConnectorForm, stackConnectorValues } from "../helpers/connectors.js";
import { esClient, stack, uniqueName } from "../helpers/stack.js";

// Regression: a connection URL pasted into the connector's `host` field came back, password and
// all, in the failed job's error and the connector's last_sync_error, which Kibana shows to every
// user who can read the connector, and in the service's log lines.
let es: EsClient;
const connectorId = uniqueName("secrets-connector").replaceAll("_", "-");
const indexName = `search-${connectorId}`;
const configPath = join(mkdtempSync(join(tmpdir(), "pgsearch-secrets-")), "config.yml");

beforeAll(async () => {
  es = await esClient();
  writeFileSync(
    configPath,
    ["elasticsearch:", "  host: ${ES_URL}", "service.idling: 0.5", "connectors:"]
      .concat([`  - connector_id: ${connectorId}`, "    service_type: postgresql"])
      .join("\n"),
  );
});

afterAll(async () => {
  await es.indices.delete({ index: indexName }).catch(() => undefined);
  await es.close();
});

it(
  "a password inside a connection URL in the host field never reaches Kibana's job error, the connector's error or the logs",
  { timeout: 180_000 },
  async () => {
    expect(
      runCli("connector", "create", "-c", configPath, "--id", connectorId, "--index-name", indexName).status,
    ).toBe(0);
    const pastedUrl = `postgresql://${stack.pgUser()}:${stack.pgPassword()}@${stack.pgHost()}:${stack.pgPort()}/db`;
    await saveConnectorForm(es, connectorId, stackConnectorValues("public", { host: pastedUrl }));
    const service = startServe(configPath);
    try {
      const started = runCli("job", "start", connectorId, "-c", configPath);
      expect(started.status).toBe(0);
      const job = await waitFor(
        async () => (await es.get<JobDocument>({ index: JOBS_INDEX, id: started.stdout.trim() }))._source,
        (j) => j?.status === "completed" || j?.status === "error",
        "the job to end",
      );
      // The user still learns what went wrong: the host could not be resolved.
      expect(job?.status).toBe("error");
      expect(job?.error).toMatch(/cannot connect to PostgreSQL.*ENOTFOUND/);
      expect(job?.error).not.toContain(stack.pgPassword());
      // The connector is written after the job (it releases the lock).
      const connector = await waitFor(
        async () => (await es.get<ConnectorDocument>({ index: CONNECTORS_INDEX, id: connectorId }))._source,
        (c) => c?.last_sync_status === "error",
        "the connector's last_sync_status",
      );
      expect(connector?.last_sync_error).toMatch(/ENOTFOUND/);
      expect(connector?.last_sync_error).not.toContain(stack.pgPassword());
      expect(service.logs()).toMatch(/ENOTFOUND/);
      expect(service.logs()).not.toContain(stack.pgPassword());
    } finally {
      expect(await service.stop()).toBe(0);
    }
  },
);
