/**
 * `npm run bench -- --size narrow [--size wide ...] [--reps 2] [--peer pgsync] [--peer elastic=PATH]
 *   [--engine opensearch]`
 *
 * For each dataset, on the same stack and data: (1) the ceiling — the same documents, pre-built
 * as NDJSON, sent with raw `_bulk` at the same batch settings into an index created through the
 * sync's own code path (same mappings and settings); (2) the PostgreSQL read alone; (3)
 * pgsearch's full sync, a re-sync of the unchanged table and one after 1% of rows changed. Each
 * phase runs in its own process with the page cache dropped before it; the order alternates
 * across repetitions so no phase always runs on caches another warmed. Peers run on the same
 * data into their own index. Prints a table, writes bench/results/<date>-<size>.json.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Client } from "@elastic/elasticsearch";
import pg from "pg";
import { DEFAULT_SYNC_OPTIONS, resolvePostgresConfig } from "../src/config/index.js";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { SearchIndex } from "../src/sink/search-index.js";
import { typedMappings } from "../src/sink/typed-mappings.js";
import { connectionFactory } from "../src/source/connection.js";
import { PostgresSource } from "../src/source/postgres-source.js";
import { DocumentBuilder } from "../src/sync/document.js";
import { dataset, type Dataset } from "./datasets.js";
import { env, pgConnection, sourceValues } from "./env.js";
import { indexSize, type IndexSize } from "./index-size.js";
import { measurePhase, runChildPhase, type PhaseResult } from "./measure.js";
import { runPeer } from "./peers.js";
import { printTable, summarize } from "./report.js";
import { rawBulk } from "./raw-bulk.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", multiple: true, default: ["narrow"] },
    reps: { type: "string", default: "2" },
    peer: { type: "string", multiple: true, default: [] },
    "skip-load": { type: "boolean", default: false },
    /** Run the phases from JavaScript compiled by tsc, as users run pgsearch (no tsx in the RSS). */
    built: { type: "boolean", default: false },
    /** Only the full sync (for xl, where every phase takes minutes: shows memory flatness). */
    "sync-only": { type: "boolean", default: false },
    /** opensearch: the same phases against OpenSearch at $OS_URL (scripts/stack.sh up opensearch). */
    engine: { type: "string", default: "elasticsearch" },
  },
});
const syncOnly = values["sync-only"];
if (values.built) {
  // Inside the repository (git-ignored), so the compiled files find node_modules.
  const out = join(import.meta.dirname, "results", "tmp", "built");
  process.stderr.write(`compiling into ${out} ...\n`);
  execFileSync("npx", ["tsc", "-p", "tsconfig.json", "--outDir", out], { stdio: "inherit" });
  process.env.PGSEARCH_BENCH_BUILT = out;
}
const reps = Number(values.reps);
// The phase processes read ES_URL from the environment they inherit: point it at OpenSearch.
if (values.engine === "opensearch") {
  process.env.ES_URL = env("OS_URL");
  process.env.PGSEARCH_BENCH_ENGINE = "opensearch";
} else if (values.engine !== "elasticsearch") throw new Error("--engine: elasticsearch or opensearch");
const esUrl = env("ES_URL");
const options = { ...DEFAULT_SYNC_OPTIONS };
const es = await connectElasticsearch({ host: esUrl, requestTimeoutMs: 600_000 });
const admin = new pg.Client(pgConnection());
await admin.connect();
const pgVersion = ((await admin.query("SHOW server_version")).rows[0] as { server_version: string })
  .server_version;

/** Pre-builds the documents as NDJSON (not timed), exactly what the sync will send. */
async function buildNdjson(source: PostgresSource, file: string): Promise<void> {
  const plan = await source.plan([]);
  const out = createWriteStream(file);
  const snapshot = await source.openSnapshot();
  for (const stream of plan.streams) {
    const builder = new DocumentBuilder(stream, source.config, '"2024-01-01T00:00:00+00:00"');
    for await (const rows of source.read(snapshot, stream, plan.server, { batchRows: options.batchRows })) {
      for (const row of rows) {
        const doc = builder.build(row);
        if (!out.write(`{"index":{"_id":${JSON.stringify(doc.id)}}}\n${doc.source}\n`))
          await once(out, "drain");
      }
    }
  }
  await snapshot.close();
  await new Promise<void>((resolve) => out.end(resolve));
}

/** A fresh index created exactly as the sync creates its own (SearchIndex.ensure, typed mappings). */
async function freshIndexLikeTheSync(client: Client, source: PostgresSource, name: string): Promise<void> {
  await client.indices.delete({ index: name, ignore_unavailable: true });
  const plan = await source.plan([]);
  await new SearchIndex(client, name).ensure(
    options.mappings === "typed"
      ? { properties: typedMappings(plan.streams, source.config.documentMode === "compat") }
      : {},
  );
}

async function resetSyncIndex(client: Client, index: string): Promise<void> {
  await client.indices.delete({ index, ignore_unavailable: true });
  await client.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);
}

/** Changes the content of 1% of the rows of every table. */
async function changeOnePercent(data: Dataset): Promise<void> {
  for (const table of data.tables) {
    const column = (
      await admin.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND data_type = 'text' LIMIT 1`,
        [data.schema, table.name],
      )
    ).rows[0]?.column_name;
    if (column !== undefined)
      await admin.query(
        `UPDATE ${data.schema}.${table.name} SET "${column}" = "${column}" || '!' WHERE id % 100 = 7`,
      );
  }
  await admin.query("CHECKPOINT");
}

interface Context {
  data: Dataset;
  source: PostgresSource;
  index: string;
  ceilingIndex: string;
  ndjson: string;
}

const pgsearchPhase = (
  ctx: Context,
  phase: string,
  rep: number,
  kind: "ceiling" | "read" | "sync",
  jobType: "full" | "incremental" = "full",
): Promise<PhaseResult> =>
  measurePhase({ phase, tool: kind === "ceiling" ? "raw _bulk" : "pgsearch", rep }, () =>
    runChildPhase({
      kind,
      jobType,
      schema: ctx.data.schema,
      index: kind === "ceiling" ? ctx.ceilingIndex : ctx.index,
      ndjson: ctx.ndjson,
    }),
  );

/** One repetition; odd ones run the phases in reverse order. */
async function repetition(ctx: Context, rep: number, sizes: IndexSize[]): Promise<PhaseResult[]> {
  const out: PhaseResult[] = [];
  const steps: Record<string, () => Promise<void>> = {
    ceiling: async () => {
      await freshIndexLikeTheSync(es.client, ctx.source, ctx.ceilingIndex);
      out.push(await pgsearchPhase(ctx, "ceiling: raw _bulk", rep, "ceiling"));
      if (rep === 0) sizes.push(await indexSize(es.client, ctx.ceilingIndex));
      await es.client.indices.delete({ index: ctx.ceilingIndex });
    },
    read: async () => {
      out.push(await pgsearchPhase(ctx, "PostgreSQL read", rep, "read"));
    },
    sync: async () => {
      await resetSyncIndex(es.client, ctx.index);
      out.push(await pgsearchPhase(ctx, "pgsearch full sync", rep, "sync"));
      if (syncOnly) return;
      if (rep === 0) sizes.push(await indexSize(es.client, ctx.index));
      out.push(await pgsearchPhase(ctx, "re-sync, unchanged", rep, "sync"));
      await changeOnePercent(ctx.data);
      out.push(await pgsearchPhase(ctx, "re-sync, 1% changed", rep, "sync"));
      // The same two cases with --incremental: rows committed since the previous sync's snapshot.
      out.push(await pgsearchPhase(ctx, "incremental, unchanged", rep, "sync", "incremental"));
      await changeOnePercent(ctx.data);
      out.push(await pgsearchPhase(ctx, "incremental, 1% changed", rep, "sync", "incremental"));
    },
  };
  const order = syncOnly
    ? ["sync"]
    : rep % 2 === 0
      ? ["ceiling", "read", "sync"]
      : ["sync", "read", "ceiling"];
  for (const step of order) await steps[step]?.();
  return out;
}

async function runSize(size: string): Promise<Record<string, unknown>> {
  const data = dataset(size);
  if (!values["skip-load"]) {
    process.stderr.write(`loading ${size} ...\n`);
    await data.load(admin);
  }
  await admin.query("CHECKPOINT");
  const config = resolvePostgresConfig(sourceValues(data.schema));
  const source = new PostgresSource(config, connectionFactory(config));
  const dir = await mkdtemp(join(tmpdir(), "pgsearch-bench-"));
  const ctx: Context = {
    data,
    source,
    index: `bench-${size}`,
    ceilingIndex: `bench-${size}-ceiling`,
    ndjson: join(dir, "docs.ndjson"),
  };
  await buildNdjson(source, ctx.ndjson);
  // A freshly started Elasticsearch is still compiling its hot paths: warm it up (unmeasured).
  const warmup = `bench-${size}-warmup`;
  await freshIndexLikeTheSync(es.client, source, warmup);
  await rawBulk(esUrl, ctx.ndjson, warmup, options, 200_000);
  await es.client.indices.delete({ index: warmup });

  const phases: PhaseResult[] = [];
  const sizes: IndexSize[] = [];
  for (let rep = 0; rep < reps; rep++) phases.push(...(await repetition(ctx, rep, sizes)));
  await resetSyncIndex(es.client, ctx.index);
  for (const peer of values.peer) {
    const done = await runPeer(peer, { data, esUrl, es: es.client, rep: 0 });
    phases.push(done.result);
    if (done.size !== undefined) sizes.push(done.size);
  }
  await rm(dir, { recursive: true, force: true });
  const summary = summarize(phases);
  printTable(size, phases, summary, sizes);
  return {
    size,
    rows: data.tables.reduce((n, t) => n + t.rows, 0),
    date: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(" ")}`,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    versions: { [es.engine]: es.version, postgresql: pgVersion },
    settings: options,
    phases,
    summary,
    indexSizes: sizes,
  };
}

await mkdir("bench/results", { recursive: true });
for (const size of values.size) {
  const result = await runSize(size);
  const engine = es.engine === "opensearch" ? "-opensearch" : "";
  const file = `bench/results/${(result.date as string).slice(0, 10)}-${size}${engine}.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}
await admin.end();
await es.client.close();
