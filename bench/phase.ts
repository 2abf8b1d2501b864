/**
 * One bench phase in its own process (`node --import tsx bench/phase.ts '<request JSON>'`), so
 * its peak RSS and CPU are its own and no phase inherits another's heap. Prints one line
 * `RESULT {json}` on stdout.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { tuneHeap } from "../src/cli/heap.js";
import { DEFAULT_SYNC_OPTIONS, resolvePostgresConfig } from "../src/config/index.js";
import { silentLogger } from "../src/observability/logger.js";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { connectionFactory } from "../src/source/connection.js";
import { PostgresSource } from "../src/source/postgres-source.js";
import { DocumentBuilder } from "../src/sync/document.js";
import { prepareRules } from "../src/sync/prepare.js";
import { ElasticsearchStateStore } from "../src/sync/state-store.js";
import { SyncEngine } from "../src/sync/sync-engine.js";
import { env, sourceValues } from "./env.js";
import { rawBulk } from "./raw-bulk.js";

export interface PhaseRequest {
  kind: "ceiling" | "read" | "sync";
  /** For "sync": a full sync (default) or an incremental one (rows committed since the last sync). */
  jobType?: "full" | "incremental";
  schema: string;
  index: string;
  ndjson?: string;
}

/** What the phase did: rows read, documents sent, bytes of NDJSON sent. */
export interface PhaseWork {
  rowsRead: number;
  docsSent: number;
  bytes: number;
  unchanged?: number;
  deleted?: number;
}

export interface ChildReport extends PhaseWork {
  seconds: number;
  cpuSeconds: number;
  maxRssMb: number;
  eventLoopLagP99Ms: number;
  /** process.memoryUsage() in MB at the sample (every 100 ms) with the highest RSS: what the peak was made of. */
  memoryAtPeakMb: {
    rss: number;
    heapTotal: number;
    heapUsed: number;
    external: number;
    arrayBuffers: number;
  };
}

const options = { ...DEFAULT_SYNC_OPTIONS };

async function ceiling(request: PhaseRequest): Promise<PhaseWork> {
  if (request.ndjson === undefined) throw new Error("ceiling needs ndjson");
  const { docs, bytes } = await rawBulk(env("ES_URL"), request.ndjson, request.index, options);
  return { rowsRead: 0, docsSent: docs, bytes };
}

async function read(request: PhaseRequest): Promise<PhaseWork> {
  const config = resolvePostgresConfig(sourceValues(request.schema));
  const source = new PostgresSource(config, connectionFactory(config));
  const plan = await source.plan([]);
  const snapshot = await source.openSnapshot();
  let rowsRead = 0;
  let bytes = 0;
  for (const stream of plan.streams) {
    const builder = new DocumentBuilder(stream, config, '"2024-01-01T00:00:00+00:00"');
    for await (const rows of source.read(snapshot, stream, plan.server, { batchRows: options.batchRows })) {
      for (const row of rows) bytes += builder.build(row).bytes;
      rowsRead += rows.length;
    }
  }
  await snapshot.close();
  return { rowsRead, docsSent: 0, bytes };
}

async function sync(request: PhaseRequest): Promise<PhaseWork> {
  const config = resolvePostgresConfig(sourceValues(request.schema));
  const source = new PostgresSource(config, connectionFactory(config));
  const es = await connectElasticsearch({ host: env("ES_URL"), requestTimeoutMs: 120_000 });
  const engine = new SyncEngine({
    source,
    client: es.client,
    state: new ElasticsearchStateStore(es.client),
    logger: silentLogger,
  });
  const rules = await prepareRules({ basic: [], advanced: [] });
  const result = await engine.run({
    indexName: request.index,
    jobType: request.jobType ?? "full",
    advancedRules: [],
    basicRules: rules.basic,
    options,
  });
  await es.client.close();
  if (result.status !== "completed") throw new Error(`sync ${result.status}: ${result.error?.message ?? ""}`);
  const sum = (f: (s: (typeof result.streams)[number]) => number): number =>
    result.streams.reduce((n, s) => n + f(s), 0);
  return {
    rowsRead: sum((s) => s.rowsRead),
    docsSent: sum((s) => s.docsSent),
    unchanged: sum((s) => s.unchanged),
    deleted: result.deleted,
    bytes: result.bulk.bytesSent,
  };
}

// As the CLI does (src/cli/main.ts): the phase measures pgsearch as users run it.
tuneHeap();
/**
 * This process's own peak RSS in KB: VmHWM belongs to the address space exec created, while
 * getrusage's maxRSS keeps the high-water mark of the parent's image it was forked from (a child
 * of a 450 MB parent reported 316 MB for 120 MB of its own).
 */
function ownPeakRssKb(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (hwm !== undefined) return Number(hwm);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

const request = JSON.parse(process.argv[2] ?? "{}") as PhaseRequest;
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
let peak = process.memoryUsage();
const sampler = setInterval(() => {
  const now = process.memoryUsage();
  if (now.rss > peak.rss) peak = now;
}, 100);
sampler.unref();
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
const work = await { ceiling, read, sync }[request.kind](request);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
lag.disable();
clearInterval(sampler);
const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
const report: ChildReport = {
  ...work,
  seconds,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  maxRssMb: ownPeakRssKb() / 1024,
  eventLoopLagP99Ms: lag.percentile(99) / 1e6,
  memoryAtPeakMb: {
    rss: mb(peak.rss),
    heapTotal: mb(peak.heapTotal),
    heapUsed: mb(peak.heapUsed),
    external: mb(peak.external),
    arrayBuffers: mb(peak.arrayBuffers),
  },
};
process.stdout.write(`RESULT ${JSON.stringify(report)}\n`);
