/**
 * `npm run bench:follow -- [--rate 2000] [--seconds 20]`: continuous change capture under a steady
 * write load (inserts and updates from two writer connections, pgbench-style). Prints changes/s
 * applied and the lag from commit to "written to Elasticsearch" (p50 / p99 over batches); the
 * index refresh interval (1 s) adds to the time until a change is searchable.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import { DEFAULT_SYNC_OPTIONS, resolvePostgresConfig } from "../src/config/index.js";
import { silentLogger } from "../src/observability/logger.js";
import { BasicRuleEngine } from "../src/rules/basic.js";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { connectionFactory } from "../src/source/connection.js";
import { PostgresSource } from "../src/source/postgres-source.js";
import { ChangeFollower, dropSlot, type AppliedBatch } from "../src/sync/follow.js";
import { ElasticsearchStateStore } from "../src/sync/state-store.js";
import { SyncEngine } from "../src/sync/sync-engine.js";
import { env, pgConnection } from "./env.js";
import { round } from "./measure.js";

const { values } = parseArgs({
  options: { rate: { type: "string", default: "2000" }, seconds: { type: "string", default: "20" } },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const connection = pgConnection();
const admin = new pg.Client(connection);
await admin.connect();
const schema = "bench_follow";
const slot = "pgsearch_bench_follow";
await dropSlot(admin, slot, slot);
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
  CREATE TABLE ${schema}.accounts (id int PRIMARY KEY, balance numeric(12,2), note text, updated_at timestamptz);
  INSERT INTO ${schema}.accounts SELECT g, 0, 'account ' || g, now() FROM generate_series(1, 100000) g;`);
const config = resolvePostgresConfig({
  host: connection.host,
  port: connection.port,
  username: connection.user,
  password: connection.password,
  database: connection.database,
  schema,
});
const es = await connectElasticsearch({ host: env("ES_URL"), requestTimeoutMs: 60_000 });
const index = "bench-follow";
await es.client.indices.delete({ index, ignore_unavailable: true });
await es.client.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);
const source = new PostgresSource(config, connectionFactory(config));
const plan = await source.plan([]);
const follower = new ChangeFollower(source, es.client, plan, silentLogger);
const slotClient = await connectionFactory(config).connect();
await follower.ensureSlot({ slotName: slot, publication: slot }, slotClient);
await slotClient.end();
const engine = new SyncEngine({
  source,
  client: es.client,
  state: new ElasticsearchStateStore(es.client),
  logger: silentLogger,
});
await engine.run({
  indexName: index,
  jobType: "full",
  advancedRules: [],
  basicRules: new BasicRuleEngine([]),
  options: DEFAULT_SYNC_OPTIONS,
});

const controller = new AbortController();
const batches: AppliedBatch[] = [];
const following = follower.run({
  indexName: index,
  slotName: slot,
  publication: slot,
  basicRules: new BasicRuleEngine([]),
  sync: DEFAULT_SYNC_OPTIONS,
  signal: controller.signal,
  onApplied: (batch) => batches.push(batch),
});

// Two writers, each committing single-row transactions at rate/2 per second: 70% updates, 30% inserts.
let written = 0;
let nextInsert = 100_001;
const writer = async (): Promise<void> => {
  const client = new pg.Client(connection);
  await client.connect();
  const perWriter = rate / 2;
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    const due = started + (written / 2 / perWriter) * 1000;
    if (Date.now() < due) await new Promise((resolve) => setTimeout(resolve, Math.min(5, due - Date.now())));
    if (Math.random() < 0.3) {
      await client.query(`INSERT INTO ${schema}.accounts VALUES ($1, 0, 'new', now())`, [nextInsert++]);
    } else {
      await client.query(
        `UPDATE ${schema}.accounts SET balance = balance + 1, updated_at = now() WHERE id = $1`,
        [1 + Math.floor(Math.random() * 100000)],
      );
    }
    written++;
  }
  await client.end();
};
const startedAt = Date.now();
await Promise.all([writer(), writer()]);
const writeSeconds = (Date.now() - startedAt) / 1000;
// Let the follower drain.
const deadline = Date.now() + 30_000;
while (Date.now() < deadline) {
  const last = batches.at(-1);
  if (last !== undefined && Date.now() - last.appliedAt > 1500) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
controller.abort();
await following;
const lags = batches
  .filter((b) => b.lastCommitTime !== undefined)
  .map((b) => b.appliedAt - (b.lastCommitTime ?? 0))
  .sort((a, b) => a - b);
const pct = (p: number): number => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? 0;
const applied = batches.reduce((n, b) => n + b.keys, 0);
const result = {
  writesPerSecond: Math.round(written / writeSeconds),
  changesApplied: applied,
  changesPerSecond: Math.round(
    applied / ((batches.at(-1)?.appliedAt ?? Date.now()) / 1000 - startedAt / 1000),
  ),
  batches: batches.length,
  lagP50Ms: round(pct(50), 0),
  lagP99Ms: round(pct(99), 0),
};
console.log(
  `follow: ${result.writesPerSecond} writes/s committed, ${result.changesPerSecond} changes/s applied (${applied} keys in ${result.batches} batches), commit → written lag p50 ${result.lagP50Ms} ms, p99 ${result.lagP99Ms} ms`,
);
const { writeFile, mkdir } = await import("node:fs/promises");
await mkdir("bench/results", { recursive: true });
await writeFile(
  `bench/results/${new Date().toISOString().slice(0, 10)}-follow.json`,
  `${JSON.stringify({ date: new Date().toISOString(), rate, seconds, ...result }, null, 2)}\n`,
);
await dropSlot(admin, slot, slot);
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();
await es.client.close();
