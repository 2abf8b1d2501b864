/**
 * `npm run bench -- --size narrow [--size wide ...]`: for each dataset, in one run on the same
 * stack: (1) the ceiling — the same documents, pre-built as NDJSON, sent with raw `_bulk` at the
 * same batch settings; (2) the PostgreSQL read alone; (3) pgsearch's full sync; then a re-sync of
 * the unchanged table and a re-sync after 1% of rows changed. Prints a table and writes
 * bench/results/<date>-<size>.json.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pg from "pg";
import { DEFAULT_SYNC_OPTIONS, resolvePostgresConfig } from "../src/config/index.js";
import { silentLogger } from "../src/observability/logger.js";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { connectionFactory } from "../src/source/connection.js";
import { PostgresSource } from "../src/source/postgres-source.js";
import { DocumentBuilder } from "../src/sync/document.js";
import { prepareRules } from "../src/sync/prepare.js";
import { ElasticsearchStateStore } from "../src/sync/state-store.js";
import { SyncEngine } from "../src/sync/sync-engine.js";
import { dataset } from "./datasets.js";
import { env, pgConnection, sourceValues } from "./env.js";
import { measure, type PhaseResult } from "./measure.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", multiple: true, default: ["narrow"] },
    "skip-load": { type: "boolean", default: false },
    /** Only the full sync (for xl, where every phase takes minutes: shows memory flatness). */
    "sync-only": { type: "boolean", default: false },
  },
});
const syncOnly = values["sync-only"];

const esUrl = env("ES_URL");
const options = { ...DEFAULT_SYNC_OPTIONS };
const es = await connectElasticsearch({ host: esUrl, requestTimeoutMs: 120_000 });
const admin = new pg.Client(pgConnection());
await admin.connect();
const pgVersion = ((await admin.query("SHOW server_version")).rows[0] as { server_version: string })
  .server_version;

const allResults: Record<string, unknown>[] = [];
for (const size of values.size) {
  const data = dataset(size);
  if (!values["skip-load"]) {
    process.stderr.write(`loading ${size} ...\n`);
    const t = Date.now();
    await data.load(admin);
    process.stderr.write(`loaded in ${((Date.now() - t) / 1000).toFixed(0)}s\n`);
  }
  const config = resolvePostgresConfig(sourceValues(data.schema));
  const source = new PostgresSource(config, connectionFactory(config));
  const rules = await prepareRules({ basic: [], advanced: [] });
  const index = `bench-${size}`;
  const ceilingIndex = `bench-${size}-ceiling`;
  await es.client.indices.delete({ index: [index, ceilingIndex], ignore_unavailable: true });
  await es.client.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);

  // Pre-build the documents as NDJSON (not timed), exactly what the sync will send.
  const dir = await mkdtemp(join(tmpdir(), "pgsearch-bench-"));
  const ndjson = join(dir, "docs.ndjson");
  const plan = await source.plan([]);
  if (!syncOnly) {
    const out = createWriteStream(ndjson);
    const snapshot = await source.openSnapshot();
    for (const stream of plan.streams) {
      const builder = new DocumentBuilder(stream, config, '"2024-01-01T00:00:00+00:00"');
      for await (const rows of source.read(snapshot, stream, plan.server, { batchRows: options.batchRows })) {
        for (const row of rows) {
          const doc = builder.build(row);
          if (!out.write(`{"index":{"_id":${JSON.stringify(doc.id)}}}\n${doc.source}\n`)) {
            await once(out, "drain");
          }
        }
      }
    }
    await snapshot.close();
    await new Promise<void>((resolve) => out.end(resolve));
  }

  const skipped = (phase: string): Promise<PhaseResult> =>
    measure(`${phase} (skipped)`, () => Promise.resolve({ docs: 0, bytes: 0 }));
  if (!syncOnly) {
    // A freshly started Elasticsearch is still compiling its hot paths: warm it up (unmeasured)
    // so the first measured phase is not penalised.
    const warmupIndex = `bench-${size}-warmup`;
    await es.client.indices.create({ index: warmupIndex });
    await rawBulk(ndjson, warmupIndex, 200_000);
    await es.client.indices.delete({ index: warmupIndex });
    await es.client.indices.create({ index: ceilingIndex });
  }
  const ceiling = syncOnly
    ? await skipped("ceiling")
    : await measure("ceiling: raw _bulk", () => rawBulk(ndjson, ceilingIndex));

  const read = syncOnly
    ? await skipped("PostgreSQL read")
    : await measure("PostgreSQL read", async () => {
        const snapshot = await source.openSnapshot();
        let docs = 0;
        let bytes = 0;
        for (const stream of plan.streams) {
          const builder = new DocumentBuilder(stream, config, '"2024-01-01T00:00:00+00:00"');
          for await (const rows of source.read(snapshot, stream, plan.server, {
            batchRows: options.batchRows,
          })) {
            for (const row of rows) bytes += builder.build(row).bytes;
            docs += rows.length;
          }
        }
        await snapshot.close();
        return { docs, bytes };
      });

  const engine = new SyncEngine({
    source,
    client: es.client,
    state: new ElasticsearchStateStore(es.client),
    logger: silentLogger,
  });
  const runSync = (phase: string): Promise<PhaseResult> =>
    measure(phase, async () => {
      const result = await engine.run({
        indexName: index,
        jobType: "full",
        advancedRules: [],
        basicRules: rules.basic,
        options,
      });
      if (result.status !== "completed")
        throw new Error(`sync ${result.status}: ${result.error?.message ?? ""}`);
      return { docs: result.streams.reduce((n, s) => n + s.rowsRead, 0), bytes: result.bulk.bytesSent };
    });
  const sync = await runSync("pgsearch full sync");
  const resyncUnchanged = syncOnly
    ? await skipped("re-sync, unchanged")
    : await runSync("re-sync, unchanged");
  // Change the content of 1% of the rows of every table.
  for (const table of syncOnly ? [] : data.tables) {
    const textColumn = (
      await admin.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND data_type = 'text' LIMIT 1`,
        [data.schema, table.name],
      )
    ).rows[0]?.column_name;
    if (textColumn !== undefined) {
      await admin.query(
        `UPDATE ${data.schema}.${table.name} SET "${textColumn}" = "${textColumn}" || '!' WHERE id % 100 = 7`,
      );
    }
  }
  const resyncChanged = syncOnly
    ? await skipped("re-sync, 1% changed")
    : await runSync("re-sync, 1% changed");
  // The ceiling again, into a fresh index: on a small VM one _bulk run can vary by a third, and
  // the ratio is taken against the better of the two, so it is never flattered by a slow ceiling.
  let ceilingAgain: PhaseResult | undefined;
  if (!syncOnly) {
    await es.client.indices.delete({ index: ceilingIndex });
    await es.client.indices.create({ index: ceilingIndex });
    ceilingAgain = await measure("ceiling again (last)", () => rawBulk(ndjson, ceilingIndex));
  }
  await rm(dir, { recursive: true, force: true });

  const phases = [
    ceiling,
    read,
    sync,
    resyncUnchanged,
    resyncChanged,
    ...(ceilingAgain ? [ceilingAgain] : []),
  ];
  const bestCeiling = Math.max(ceiling.docsPerSecond, ceilingAgain?.docsPerSecond ?? 0);
  const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
  const ratios = {
    syncToCeiling: ratio(sync.docsPerSecond, bestCeiling),
    syncToRead: ratio(sync.docsPerSecond, read.docsPerSecond),
  };
  printTable(size, phases, ratios);
  allResults.push({
    size,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    versions: { elasticsearch: es.version, postgresql: pgVersion },
    settings: options,
    phases,
    ratios,
  });
  await es.client.indices.delete({ index: [index, ceilingIndex], ignore_unavailable: true });
}

await mkdir("bench/results", { recursive: true });
for (const result of allResults) {
  const file = `bench/results/${(result.date as string).slice(0, 10)}-${result.size as string}.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}
await admin.end();
await es.client.close();

/** The same NDJSON, same batch bounds and concurrency, through plain fetch: nothing but _bulk. */
async function rawBulk(
  file: string,
  target: string,
  maxDocs = Infinity,
): Promise<{ docs: number; bytes: number }> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const inFlight = new Set<Promise<void>>();
  let body: string[] = [];
  let bodyBytes = 0;
  let docs = 0;
  let bytes = 0;
  let action: string | undefined;
  const send = async (payload: string): Promise<void> => {
    const response = await fetch(`${esUrl}/${target}/_bulk?filter_path=errors`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: payload,
    });
    const result = (await response.json()) as { errors?: boolean };
    if (!response.ok || result.errors === true)
      throw new Error(`ceiling _bulk failed: HTTP ${response.status}`);
  };
  const flush = async (): Promise<void> => {
    const payload = body.join("");
    body = [];
    bodyBytes = 0;
    while (inFlight.size >= options.bulkConcurrency) await Promise.race(inFlight);
    const task = send(payload).finally(() => inFlight.delete(task));
    inFlight.add(task);
  };
  for await (const line of lines) {
    if (docs >= maxDocs) break;
    if (action === undefined) {
      action = line;
      continue;
    }
    const pair = `${action}\n${line}\n`;
    action = undefined;
    const pairBytes = Buffer.byteLength(pair);
    if (body.length > 0 && bodyBytes + pairBytes > options.bulkMaxBytes) await flush();
    body.push(pair);
    bodyBytes += pairBytes;
    bytes += pairBytes;
    docs++;
    if (body.length >= options.bulkMaxDocs) await flush();
  }
  if (body.length > 0) await flush();
  await Promise.all(inFlight);
  return { docs, bytes };
}

function printTable(size: string, phases: PhaseResult[], ratios: Record<string, number | null>): void {
  const rows = phases.map(
    (p) =>
      `| ${p.phase.padEnd(22)} | ${String(p.docs).padStart(9)} | ${String(p.docsPerSecond).padStart(8)} | ${String(p.mbPerSecond).padStart(6)} | ${String(p.peakRssMb).padStart(6)} | ${String(p.eventLoopLagP99Ms).padStart(6)} | ${String(p.seconds).padStart(7)} | ${p.cpuSeconds.elasticsearch} / ${p.cpuSeconds.postgres} / ${p.cpuSeconds.pgsearch} |`,
  );
  process.stdout.write(
    [
      `\n### ${size}`,
      "| phase                  |      docs |   docs/s |   MB/s | RSS MB | lag99 |       s | CPU s: ES / PG / pgsearch |",
      "|---|---:|---:|---:|---:|---:|---:|---|",
      ...rows,
      `\nsync/ceiling ${ratios.syncToCeiling} (against the better ceiling run), sync/read ${ratios.syncToRead}\n`,
    ].join("\n"),
  );
}
