/**
 * Three real `pgsearch serve` processes share two connectors, under CPU load, through both
 * backends: every due time of a once-a-second schedule becomes at most one job, every job runs
 * exactly once, and every job completes. (Issues 18 and 12.1: the scheduling race and the claim.)
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTORS_INDEX, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { JobDocument } from "../../src/service/protocol.js";
import { startConnectorApiEmulator, type ConnectorApiEmulator } from "../helpers/connector-api-emulator.js";
import { saveConnectorForm, stackConnectorValues } from "../helpers/connectors.js";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, stack, uniqueName } from "../helpers/stack.js";

const SERVICES = 3;
/** Due times to wait for (per connector) before the schedule is turned off: event-based, no clock bound. */
const DUE_TIMES_PER_CONNECTOR = 4;
let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("multiproc");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await createReferenceTables(admin, schema);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${schema.replaceAll("_", "-")}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

interface LogLine {
  message?: string;
  msg?: string;
  connector_id?: string;
  job_id?: string;
  due?: string;
}

/** A `pgsearch serve` process and the JSON log lines it wrote. */
function serve(configPath: string): {
  child: ChildProcess;
  lines: LogLine[];
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "-c", configPath], {
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  let pending = "";
  const collect = (chunk: Buffer): void => {
    pending += chunk.toString();
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const part of parts) {
      try {
        // The service's own fields (connector_id, due, job_id) sit under `pgsearch.*` in ECS lines.
        const parsed = JSON.parse(part) as LogLine & { pgsearch?: LogLine };
        lines.push({ ...parsed, ...parsed.pgsearch });
      } catch {
        lines.push({ message: part });
      }
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, lines, exited };
}

const text = (line: LogLine): string => line.message ?? line.msg ?? "";

async function until(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.each(["index", "api"] as const)("three serve processes through the %s protocol", (backend) => {
  let emulator: ConnectorApiEmulator | undefined;

  beforeAll(async () => {
    // Both backends go through the emulator (the index backend as a proxy), which checks every
    // system-index document against Elasticsearch's parser rules.
    emulator = await startConnectorApiEmulator(stack.esUrl(), es);
  });
  afterAll(async () => {
    expect(emulator?.violations).toEqual([]);
    await emulator?.close();
  });

  it(
    "under CPU load, each due time makes at most one job and each job runs exactly once",
    { timeout: 240_000 },
    async () => {
      const ids = [uniqueName("mp-a"), uniqueName("mp-b")];
      for (const id of ids) {
        // What PUT _connector/<id> and Kibana's configuration form write.
        await es.index({
          index: CONNECTORS_INDEX,
          id,
          document: {
            name: id,
            index_name: `${schema.replaceAll("_", "-")}-${backend}-${id.replaceAll("_", "-")}`,
            service_type: "postgresql",
            status: "created",
            is_native: false,
            configuration: {},
          },
          refresh: true,
        });
      }
      const dir = mkdtempSync(join(tmpdir(), "pgsearch-multi-"));
      const configPath = join(dir, "config.yml");
      writeFileSync(
        configPath,
        [
          "elasticsearch:",
          `  host: ${emulator?.url ?? ""}`,
          "service:",
          "  idling: 0.2",
          "  stats_interval: 0.5",
          "  cancel_check_interval: 0.5",
          "  max_concurrent_content_syncs: 2",
          "connectors:",
          ...ids.flatMap((id) => [`  - connector_id: ${id}`, "    service_type: postgresql"]),
          "pgsearch:",
          `  protocol: ${backend}`,
        ].join("\n"),
      );
      // A busy loop keeps a core saturated, as another stack on the machine does.
      const load = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
      const services = Array.from({ length: SERVICES }, () => serve(configPath));
      try {
        await until(
          "the services to start",
          () => services.every((s) => s.lines.some((l) => text(l).startsWith("connector service started"))),
          180_000,
        );
        // The services self-register the connectors; then Kibana's form is saved.
        await until(
          "self-registration",
          async () => {
            const docs = await es.mget({ index: CONNECTORS_INDEX, ids });
            return docs.docs.every(
              (d) => "_source" in d && (d._source as { status?: string }).status === "needs_configuration",
            );
          },
          180_000,
        );
        for (const id of ids)
          await saveConnectorForm(es, id, stackConnectorValues(schema, { tables: "employee" }));
        const every = (enabled: boolean) => ({
          scheduling: {
            full: { enabled, interval: "* * * * * ?" },
            incremental: { enabled: false, interval: "0 0 0 * * ?" },
            access_control: { enabled: false, interval: "0 0 0 * * ?" },
          },
        });
        for (const id of ids)
          await es.update({
            index: CONNECTORS_INDEX,
            id,
            doc: every(true),
            refresh: true,
            retry_on_conflict: 10,
          });
        const jobsOf = async (): Promise<{ id: string; doc: JobDocument }[]> => {
          await es.indices.refresh({ index: JOBS_INDEX });
          const found = await es.search<JobDocument>({
            index: JOBS_INDEX,
            query: { terms: { "connector.id": ids } },
            size: 1000,
          });
          return found.hits.hits.map((h) => ({ id: h._id ?? "", doc: h._source as JobDocument }));
        };
        // Each connector's schedule stays on until it has made several jobs, however slow the machine.
        await until(
          "scheduled jobs",
          async () => (await jobsOf()).length >= ids.length * DUE_TIMES_PER_CONNECTOR,
          120_000,
        );
        for (const id of ids)
          await es.update({
            index: CONNECTORS_INDEX,
            id,
            doc: every(false),
            refresh: true,
            retry_on_conflict: 10,
          });

        // Every job the schedule made ends.
        await until(
          "every job to end",
          async () =>
            (await jobsOf()).every((j) => ["completed", "error", "canceled"].includes(j.doc.status)),
          120_000,
        );
        // Let a poll pass after disabling, so a late scheduler would show up.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const jobs = await jobsOf();
        const lines = services.flatMap((s) => s.lines);
        const scheduled = lines.filter((l) => text(l).endsWith("sync created"));
        const dueTimes = scheduled.map((l) => `${l.connector_id ?? ""} ${l.due ?? ""}`);
        console.log(
          `${backend}: ${String(jobs.length)} jobs for ${String(new Set(dueTimes).size)} due times`,
        );
        // Each due time: one job, made by one process.
        expect(new Set(dueTimes).size).toBe(dueTimes.length);
        expect(jobs.length).toBe(scheduled.length);
        expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(scheduled.map((l) => l.job_id)));
        expect(jobs.length).toBeGreaterThanOrEqual(ids.length * DUE_TIMES_PER_CONNECTOR);
        // Each job: started once, in one process, and completed.
        for (const job of jobs) {
          const starts = lines.filter((l) => text(l) === "sync job started" && l.job_id === job.id);
          expect({ job: job.id, starts: starts.length, status: job.doc.status }).toEqual({
            job: job.id,
            starts: 1,
            status: "completed",
          });
        }
      } finally {
        load.kill("SIGKILL");
        for (const s of services) s.child.kill("SIGTERM");
        const codes = await Promise.all(services.map((s) => s.exited));
        expect(codes).toEqual(codes.map(() => 0));
      }
    },
  );
});
