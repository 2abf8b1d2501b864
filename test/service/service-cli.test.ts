import type { Client as EsClient } from "@elastic/elasticsearch";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CONNECTORS_INDEX, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, JobDocument } from "../../src/service/protocol.js";
import { saveConnectorForm, stackConnectorValues } from "../helpers/connectors.js";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { runCli, startServe } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { adminClient, esClient, stack, uniqueName } from "../helpers/stack.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("servecli");
const connectorId = uniqueName("cli-connector").replaceAll("_", "-");
const indexName = `search-${connectorId}`;
const dir = mkdtempSync(join(tmpdir(), "pgsearch-serve-"));
const configPath = join(dir, "config.yml");

const cli = runCli;

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await createReferenceTables(admin, schema);
  // Elastic's config.yml keys, with a dotted key as Elastic's loader accepts.
  writeFileSync(
    configPath,
    [
      "elasticsearch:",
      "  host: ${ES_URL}",
      "service.idling: 0.5",
      "connectors:",
      `  - connector_id: ${connectorId}`,
      "    service_type: postgresql",
    ].join("\n"),
  );
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: indexName }).catch(() => undefined);
  await admin.end();
  await es.close();
});

it(
  "serve + connector create + job start: an on-demand sync through the CLI, as an operator runs it",
  { timeout: 120_000 },
  async () => {
    const created = cli(
      "connector",
      "create",
      "-c",
      configPath,
      "--id",
      connectorId,
      "--index-name",
      indexName,
    );
    expect(created.stderr).toBe("");
    expect(created.status).toBe(0);
    await saveConnectorForm(es, connectorId, stackConnectorValues(schema));

    const metricsPort = 20000 + Math.floor(Math.random() * 20000);
    const service = startServe(configPath, "--metrics-port", String(metricsPort));
    try {
      const started = cli("job", "start", connectorId, "-c", configPath);
      expect(started.status).toBe(0);
      const jobId = started.stdout.trim();
      const job = await waitFor(
        async () => (await es.get<JobDocument>({ index: JOBS_INDEX, id: jobId }))._source,
        (j) => j?.status === "completed" || j?.status === "error",
        "the job to end",
      );
      expect(job).toMatchObject({ status: "completed", indexed_document_count: 6 });
      const listed = cli("job", "list", connectorId, "-c", configPath);
      expect(listed.stdout).toMatch(new RegExp(`${jobId}.*completed`));
      const connectorShown = cli("connector", "show", connectorId, "-c", configPath);
      expect(connectorShown.stdout).toContain('"password": "********"');
      expect(connectorShown.stdout).not.toContain(stack.pgPassword());
      expect(cli("index", "list", "-c", configPath).stdout).toMatch(
        new RegExp(`${indexName}\\s*│\\s*${connectorId}\\s*│\\s*6`),
      );
      const shown = cli("job", "show", jobId, "-c", configPath);
      expect(shown.stdout).not.toContain(stack.pgPassword());
      expect(
        (await es.get<ConnectorDocument>({ index: CONNECTORS_INDEX, id: connectorId }))._source,
      ).toMatchObject({ status: "connected", last_sync_status: "completed" });
      // Prometheus metrics: documents indexed for this connector, the job, the process's memory.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain(`pgsearch_documents_indexed_total{connector="${connectorId}"} 6`);
      expect(metrics).toContain(`pgsearch_sync_jobs_total{connector="${connectorId}",status="completed"} 1`);
      expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(metrics).toContain(
        `pgsearch_sync_duration_seconds_count{connector="${connectorId}",status="completed"} 1`,
      );
      expect(metrics).toMatch(
        new RegExp(`pgsearch_last_success_timestamp_seconds\\{connector="${connectorId}"\\} \\d+`),
      );
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      expect([ready.status, await ready.text()]).toEqual([200, "ok\n"]);
      expect(metrics).toContain(`pgsearch_bulk_queue_bytes{connector="${connectorId}"} 0`);
      // ECS JSON logs, no secrets.
      expect(service.logs()).toMatch(/"ecs.version"/);
      expect(service.logs()).not.toContain(stack.pgPassword());
    } finally {
      expect(await service.stop()).toBe(0);
    }
  },
);
