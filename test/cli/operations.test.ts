import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { adminClient, uniqueName } from "../helpers/stack.js";
import { waitFor } from "../helpers/wait.js";

describe("operations: the metrics server", () => {
  let busy: Server;
  let port = 0;
  let config = "";
  beforeAll(async () => {
    config = writeStackConfig({ index: "unused", schema: "public" }).replace(/config\.yml$/, "service.yml");
    writeFileSync(
      config,
      `elasticsearch:\n  host: ${process.env.ES_URL ?? ""}\nconnectors:\n  - connector_id: busy-port-test\n`,
    );
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => {
    busy.close();
  });

  it("serve on a busy --metrics-port says so in one line and exits 1 (issue 10.13)", async () => {
    const result = await runCliAsync("serve", "-c", config, "--metrics-port", String(port));
    expect(result.status).toBe(1);
    // The ECS JSON log lines aside, one line, no stack trace.
    const lines = result.stderr
      .trim()
      .split("\n")
      .filter((line) => !line.startsWith("{"));
    expect(lines).toEqual([
      `error: metrics port ${port} on 127.0.0.1 is already in use: stop the other process or choose another --metrics-port`,
    ]);
  });

  it("a --metrics-port that is not a port is a usage error (exit 2)", async () => {
    const result = await runCliAsync("serve", "-c", config, "--metrics-port", "http");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--metrics-port: must be a port number (1-65535), got "http"');
  });
});

describe("operations: sync --follow as a role without REPLICATION", () => {
  it("says what the role needs in one line and exits 1 (issue 10.13)", async () => {
    const config = writeStackConfig({ index: uniqueName("norepl"), schema: "public" });
    const { readFileSync } = await import("node:fs");
    const roUser = process.env.PG_RO_USER ?? "pgsearch_ro";
    writeFileSync(
      config,
      readFileSync(config, "utf8")
        .replace(/username: .*/, `username: ${roUser}`)
        .replace("${PGPASSWORD}", process.env.PG_RO_PASSWORD ?? ""),
    );
    const result = await runCliAsync("sync", "-c", config, "--follow", "--slot", uniqueName("norepl_slot"));
    expect(result.status).toBe(1);
    const lines = result.stderr
      .trim()
      .split("\n")
      .filter((line) => !line.startsWith("{"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: PostgreSQL refused: permission denied.*needs a role with REPLICATION/);
    expect(result.stderr).not.toContain(process.env.PG_RO_PASSWORD ?? "never");
  }, 60_000);
});

describe("operations: sync --follow exposes metrics and readiness", () => {
  it("readyz turns 200 once following; applied changes are counted", async () => {
    const schema = uniqueName("cli_metrics");
    const index = uniqueName("cli-metrics");
    const slot = uniqueName("cli_metrics_slot");
    const pg = await adminClient();
    await pg.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.item (id int PRIMARY KEY, name text)`);
    await pg.query(`INSERT INTO ${schema}.item VALUES (1, 'one')`);
    const config = writeStackConfig({ index, schema });
    const metricsPort = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(
      process.execPath,
      [
        ...["--import", "tsx", "src/cli/main.ts", "sync", "-c", config, "--follow", "--slot", slot],
        ...["--metrics-port", String(metricsPort)],
      ],
      { env: process.env, stdio: "ignore" },
    );
    try {
      const base = `http://127.0.0.1:${metricsPort}`;
      const get = (path: string) => fetch(`${base}${path}`).catch(() => undefined);
      await waitFor(
        async () => (await get("/readyz"))?.status,
        (status) => status === 200,
        "/readyz to answer 200",
      );
      await pg.query(`INSERT INTO ${schema}.item VALUES (2, 'two')`);
      await waitFor(
        async () => (await (await get("/metrics"))?.text()) ?? "",
        (text) => /pgsearch_follow_changes_applied_total\{connector="[^"]+"\} 1/.test(text),
        "the applied change in /metrics",
      );
      const metrics = (await (await get("/metrics"))?.text()) ?? "";
      expect(metrics).toContain(
        `pgsearch_sync_duration_seconds_count{connector="${index}",status="completed"} 1`,
      );
      expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    } finally {
      child.kill("SIGINT");
      await new Promise((resolve) => child.once("exit", resolve));
      await pg.query(
        `SELECT pg_drop_replication_slot('${slot}') FROM pg_replication_slots WHERE slot_name = '${slot}'`,
      );
      await pg.query(`DROP PUBLICATION IF EXISTS ${slot}; DROP SCHEMA ${schema} CASCADE`);
      await pg.end();
    }
  }, 120_000);
});
