/**
 * The management CLI as Elastic's `connectors` CLI defines it, on the backend the cluster offers:
 * the Connector APIs where they exist (through the emulator), the system indices otherwise. Every
 * document it writes must pass Elasticsearch's parser rules (the emulator checks them).
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTORS_INDEX, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, JobDocument } from "../../src/service/protocol.js";
import { runCliAsync } from "../helpers/cli.js";
import { startConnectorApiEmulator, type ConnectorApiEmulator } from "../helpers/connector-api-emulator.js";
import { esClient, uniqueName } from "../helpers/stack.js";

let es: EsClient;
let emulator: ConnectorApiEmulator;
const dir = mkdtempSync(join(tmpdir(), "pgsearch-manage-"));

beforeAll(async () => {
  es = await esClient();
  emulator = await startConnectorApiEmulator(process.env.ES_URL ?? "", es);
});

afterAll(async () => {
  await emulator.close();
  await es.close();
});

describe.each(["index", "api"] as const)("management CLI on the %s backend", (backend) => {
  const id = uniqueName(`manage-${backend}`).replaceAll("_", "-");
  const indexName = `search-${id}`;
  const config = join(dir, `${backend}.yml`);
  const cli = (...args: string[]) => runCliAsync(...args, "-c", config);
  /** Each test stands alone: the connector exists whichever test runs first (a repeat create is refused). */
  const ensureConnector = () => cli("connector", "create", "--id", id, "-i", indexName, "-n", "Orders");

  beforeAll(() => {
    writeFileSync(
      config,
      [
        "elasticsearch:",
        `  host: ${emulator.url}`,
        "connectors:",
        `  - connector_id: ${id}`,
        "    service_type: postgresql",
        "pgsearch:",
        `  protocol: ${backend}`,
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await es.indices.delete({ index: indexName }).catch(() => undefined);
  });

  it("connector create writes what PUT _connector/<id> creates, with Kibana's pipeline settings", async () => {
    const before = emulator.calls.length;
    const created = await cli("connector", "create", "--id", id, "-i", indexName, "-n", "Orders");
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toContain(`through the ${backend} backend`);
    const doc = (await es.get<ConnectorDocument>({ index: CONNECTORS_INDEX, id }))._source;
    expect(doc).toMatchObject({
      name: "Orders",
      index_name: indexName,
      service_type: "postgresql",
      is_native: false,
      pipeline: {
        name: "search-default-ingestion",
        extract_binary_content: true,
        reduce_whitespace: true,
        run_ml_inference: true,
      },
      scheduling: {
        access_control: { enabled: false, interval: "0 0 0 * * ?" },
        full: { enabled: false, interval: "0 0 0 * * ?" },
        incremental: { enabled: false, interval: "0 0 0 * * ?" },
      },
    });
    expect(doc?.filtering?.[0]?.active.advanced_snippet.created_at).toEqual(expect.any(String));
    const calls = emulator.calls.slice(before);
    if (backend === "api")
      expect(calls).toEqual(
        expect.arrayContaining([`PUT /_connector/${id}`, `PUT /_connector/${id}/_pipeline`]),
      );
    else expect(calls.filter((c) => c.startsWith("PUT"))).toEqual([]);
    expect((await cli("connector", "list")).stdout).toMatch(new RegExp(`${id}.*Orders.*${indexName}`));
    // A second create is refused, naming the connector.
    const again = await cli("connector", "create", "--id", id, "-i", indexName);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain(id);
  });

  it("job start -i -t, view -o json, list, cancel", async () => {
    await ensureConnector();
    const started = await cli("job", "start", "-i", id, "-t", "full", "-o", "json");
    expect(started.status, started.stderr).toBe(0);
    const jobId = (JSON.parse(started.stdout) as { id: string }).id;
    const viewed = await cli("job", "view", jobId, "-o", "json");
    expect(viewed.status, viewed.stderr).toBe(0);
    const job = JSON.parse(viewed.stdout) as JobDocument;
    expect(job).toMatchObject({
      id: jobId,
      status: "pending",
      job_type: "full",
      trigger_method: "on_demand",
    });
    expect(job.connector).not.toHaveProperty("configuration");
    expect((await cli("job", "list", id)).stdout).toMatch(new RegExp(`${jobId}.*pending`));
    const canceled = await cli("job", "cancel", jobId);
    expect(canceled.status, canceled.stderr).toBe(0);
    expect((JSON.parse((await cli("job", "show", jobId, "-o", "json")).stdout) as JobDocument).status).toBe(
      "canceling",
    );
    if (backend === "api") expect(emulator.calls).toContain(`PUT /_connector/_sync_job/${jobId}/_cancel`);
  });

  // Regression: one proof run's `job view <id>` failed with "unknown option '-9SAQqIBTdHs_UczWRxa'":
  // Elasticsearch's ids are base64url, so 1 in 64 starts with "-".
  it("a job id starting with '-' is taken as the id by view and cancel", async () => {
    await ensureConnector();
    const started = await cli("job", "start", "-i", id, "-o", "json");
    const generated = (JSON.parse(started.stdout) as { id: string }).id;
    const { _source } = await es.get<JobDocument>({ index: JOBS_INDEX, id: generated });
    const dashed = `-${generated.slice(1)}`;
    await es.index({ index: JOBS_INDEX, id: dashed, document: _source, refresh: true });
    const viewed = await cli("job", "view", dashed, "-o", "json");
    expect(viewed.status, viewed.stderr).toBe(0);
    expect((JSON.parse(viewed.stdout) as { id: string }).id).toBe(dashed);
    const canceled = await cli("job", "cancel", dashed);
    expect(canceled.status, canceled.stderr).toBe(0);
    expect((await es.get<JobDocument>({ index: JOBS_INDEX, id: dashed }))._source?.status).toBe("canceling");
    // A mistyped option is still refused.
    expect((await cli("job", "view", dashed, "--ouput", "json")).status).not.toBe(0);
  });

  it("index clean empties the content index and keeps it; index delete removes it", async () => {
    await ensureConnector();
    await es.index({ index: indexName, id: "a", document: { v: 1 } });
    await es.index({ index: indexName, id: "b", document: { v: 2 }, refresh: true });
    const cleaned = await cli("index", "clean", indexName);
    expect(cleaned.stdout).toContain("deleted 2 documents");
    expect((await es.count({ index: indexName })).count).toBe(0);
    expect((await cli("index", "list")).stdout).toMatch(new RegExp(`${indexName}\\s*│\\s*${id}\\s*│\\s*0`));
    expect((await cli("index", "delete", indexName)).status).toBe(0);
    expect(await es.indices.exists({ index: indexName })).toBe(false);
  });

  it("sends X-elastic-product-origin: connectors, and every document passes Elasticsearch's parsers", () => {
    const system = emulator.productOrigins.filter(
      (r) => r.path.startsWith("/_connector") || r.path.startsWith("/.elastic-connectors"),
    );
    expect(system.length).toBeGreaterThan(0);
    expect(system.filter((r) => r.origin !== "connectors")).toEqual([]);
    expect(emulator.violations).toEqual([]);
  });
});

it("every management subcommand is described in --help", async () => {
  for (const [group, names] of [
    ["connector", ["create", "list", "view|show"]],
    ["index", ["list", "clean", "delete"]],
    ["job", ["start", "list", "view|show", "cancel"]],
  ] as const) {
    const help = (await runCliAsync(group, "--help")).stdout;
    for (const name of names)
      expect(help, `${group} ${name}`).toMatch(
        new RegExp(`^  ${name.replace("|", "\\|")}\\b.*\\s{2,}\\w+`, "m"),
      );
  }
});
