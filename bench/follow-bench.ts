/**
 * `npm run bench:follow -- [--rate 2000] [--seconds 20] [--rows 100000] [--writers 4] [--per-commit 10]`
 *
 * Change capture under a steady write load, measured per change: `pgsearch sync --follow` (the
 * CLI, in its own process under /usr/bin/time) follows a table while writers commit transactions
 * of updates (70%) and inserts (30%); each change is timed from its commit to the moment a search
 * finds it (no forced refresh), see follow-tracker.ts. Then the restart case: the follower is
 * stopped, one change is committed, and the time from the restart until it is searchable is taken.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { dropSlot } from "../src/sync/follow.js";
import { env, pgConnection } from "./env.js";
import { FollowerLog } from "./follow-log.js";
import { ChangeTracker, pollOnce, writeChanges } from "./follow-tracker.js";
import { round, startTimed, type TimedProcess } from "./measure.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "20" },
    rows: { type: "string", default: "100000" },
    writers: { type: "string", default: "4" },
    "per-commit": { type: "string", default: "10" },
    "poll-ms": { type: "string", default: "200" },
    // The test stack runs synchronous_commit=off: a commit then reaches the WAL sender only when
    // the WAL writer flushes (wal_writer_delay, 200 ms). "on" is PostgreSQL's default.
    "synchronous-commit": { type: "string", default: "on" },
  },
});
const [rate, seconds, rows, writers, perCommit, pollMs] = [
  values.rate,
  values.seconds,
  values.rows,
  values.writers,
  values["per-commit"],
  values["poll-ms"],
].map(Number) as [number, number, number, number, number, number];
const schema = "bench_follow";
const table = `${schema}.accounts`;
const slot = "pgsearch_bench_follow";
const index = "bench-follow";
const connection = pgConnection();
const admin = new pg.Client(connection);
await admin.connect();
const es = await connectElasticsearch({ host: env("ES_URL"), requestTimeoutMs: 60_000 });
await dropSlot(admin, slot, slot);
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
  CREATE SEQUENCE ${table}_seq;
  CREATE TABLE ${table} (id int PRIMARY KEY, balance numeric(12,2), note text, seq bigint, updated_at timestamptz);
  INSERT INTO ${table} SELECT g, 0, 'account ' || g, 0, now() FROM generate_series(1, ${rows}) g;`);
await es.client.indices.delete({ index, ignore_unavailable: true });
await es.client.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);
const dir = await mkdtemp(join(tmpdir(), "pgsearch-follow-"));
const configFile = join(dir, "connector.yml");
await writeFile(
  configFile,
  `elasticsearch:\n  host: \${ES_URL}\nindex_name: ${index}\nconfiguration:\n  host: \${PGHOST}\n  port: \${PGPORT}\n  username: \${PGUSER}\n  password: \${PGPASSWORD}\n  database: \${PGDATABASE}\n  schema: ${schema}\n  tables: "*"\n  ssl_enabled: false\nsync_rules:\n  basic: []\n  advanced: []\n`,
);

/**
 * Starts `pgsearch sync --follow` (debug log: per-batch timings and start-up steps); resolves
 * with the seconds until it says it is following.
 */
function startFollower(): { process: TimedProcess; following: Promise<number>; log: FollowerLog } {
  const started = Date.now();
  const cli = join(import.meta.dirname, "..", "src", "cli", "main.ts");
  const timed = startTimed(
    process.execPath,
    [
      "--import",
      "tsx",
      cli,
      "sync",
      "--config",
      configFile,
      "--follow",
      "--slot",
      slot,
      "--log-level",
      "debug",
    ],
    { allowFailure: true },
  );
  const log = new FollowerLog();
  const following = new Promise<number>((resolve, reject) => {
    const tail: string[] = [];
    timed.child.stderr.on("data", (chunk: Buffer) => {
      log.feed(chunk.toString(), (line) => {
        if (line.includes("following changes")) resolve((Date.now() - started) / 1000);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      });
    });
    timed.child.on("close", () => {
      reject(new Error(`the follower exited:\n${tail.join("\n")}`));
    });
  });
  following.catch(() => undefined);
  return { process: timed, following, log };
}

/** SIGTERM to the Node process under /usr/bin/time (time itself would leave it orphaned). */
async function stopFollower(follower: TimedProcess): Promise<Awaited<TimedProcess["result"]>> {
  const pid = follower.child.pid ?? 0;
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8")).trim().split(" ");
  for (const child of children) if (child !== "") process.kill(Number(child), "SIGTERM");
  return follower.result;
}

async function seqField(): Promise<string> {
  const mapping = await es.client.indices.getMapping({ index });
  const properties = Object.values(mapping)[0]?.mappings.properties ?? {};
  const field = Object.keys(properties).find((f) => f === "seq" || f.endsWith("_seq"));
  if (field === undefined) throw new Error(`no seq field in ${index}`);
  return field;
}

/**
 * The rows of changes never seen: does the index hold the row's current seq (the change was
 * overwritten by one the tracker could not order) or not (a change not applied)?
 */
async function checkUnseen(
  field: string,
  tracker: ChangeTracker,
): Promise<{ rows: number; indexDiffers: number[] }> {
  const ids = [...new Set([...tracker.pending].map((seq) => tracker.rowOf.get(seq) ?? 0))].slice(0, 1000);
  if (ids.length === 0) return { rows: 0, indexDiffers: [] };
  const db = await admin.query<{ id: number; seq: string }>(
    `SELECT id, seq FROM ${table} WHERE id = ANY($1::int[])`,
    [ids],
  );
  const found = await es.client.search({
    index,
    size: ids.length,
    _source: false,
    docvalue_fields: [field],
    query: { terms: { [field]: db.rows.map((r) => Number(r.seq)) } },
  });
  const indexed = new Set(
    found.hits.hits.map((h) => Number((h.fields?.[field] as unknown[] | undefined)?.[0])),
  );
  return {
    rows: ids.length,
    indexDiffers: db.rows.filter((r) => !indexed.has(Number(r.seq))).map((r) => r.id),
  };
}

async function pollUntil(
  field: string,
  tracker: ChangeTracker,
  done: () => boolean,
  limitMs: number,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done() && Date.now() < deadline) {
    await pollOnce(es.client, index, field, tracker);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function steadyLoad(field: string, tracker: ChangeTracker): Promise<number> {
  let nextInsert = rows + 1;
  const until = Date.now() + seconds * 1000;
  const clients = await Promise.all(
    Array.from({ length: writers }, async () => {
      const c = new pg.Client(connection);
      await c.connect();
      await c.query(`SET synchronous_commit = ${values["synchronous-commit"] === "off" ? "off" : "on"}`);
      return c;
    }),
  );
  let writing = true;
  const polling = pollUntil(field, tracker, () => !writing, seconds * 1000 + 60_000);
  const started = Date.now();
  const counts = await Promise.all(
    clients.map((client) =>
      writeChanges({
        client,
        table,
        rows,
        perSecond: rate / writers,
        perCommit,
        until,
        nextInsert: () => nextInsert++,
        tracker,
      }),
    ),
  );
  const writeSeconds = (Date.now() - started) / 1000;
  writing = false;
  await polling;
  await Promise.all(clients.map((c) => c.end()));
  // Drain: until every change is seen (or superseded), at most 60 s.
  await pollUntil(field, tracker, () => tracker.pending.size === 0, 60_000);
  return counts.reduce((a, b) => a + b, 0) / writeSeconds;
}

const load0 = loadavg();
const first = startFollower();
const initialSyncSeconds = await first.following;
const field = await seqField();
const tracker = new ChangeTracker();
const committedPerSecond = await steadyLoad(field, tracker);
const follower = await stopFollower(first.process);
const unseen = await checkUnseen(field, tracker);
// What a restart must decode before it reaches new changes: WAL after the slot's positions.
const slotWal = (
  await admin.query<{ confirmed: string; restart: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS confirmed,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS restart
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  )
).rows[0];

// Restart: one change made while stopped must be searchable soon after the restart.
const restartTracker = new ChangeTracker();
const change = await admin.query<{ id: number; seq: string }>(
  `UPDATE ${table} SET seq = nextval('${table}_seq') WHERE id = 1 RETURNING id, seq`,
);
restartTracker.committed(
  change.rows.map((r) => ({ id: r.id, seq: Number(r.seq) })),
  Date.now(),
);
const restartedAt = Date.now();
const second = startFollower();
await pollUntil(field, restartTracker, () => restartTracker.pending.size === 0, 300_000);
const restartSearchableSeconds = (Date.now() - restartedAt) / 1000;
const restartFollowingSeconds = await second.following.catch(() => null);
const restart = await stopFollower(second.process);

const lags = tracker.lagsMs();
const pct = (p: number): number => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? 0;
const result = {
  date: new Date().toISOString(),
  command: `npm run bench:follow -- ${process.argv.slice(2).join(" ")}`,
  settings: {
    rate,
    seconds,
    rows,
    writers,
    perCommit,
    pollMs,
    synchronousCommit: values["synchronous-commit"],
  },
  initialSyncSeconds: round(initialSyncSeconds, 1),
  changesCommitted: tracker.committedAt.size,
  committedPerSecond: Math.round(committedPerSecond),
  samples: lags.length,
  superseded: tracker.superseded.size,
  /** Not seen when the drain ended (60 s after the writers stopped): behind, or lost. */
  unseenAfterDrain: tracker.pending.size,
  /** Their rows, and those whose document does not hold the row's current seq (a change not applied). */
  unseenRows: unseen,
  lagMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: lags.at(-1) ?? 0 },
  follower: {
    seconds: round(follower.seconds, 1),
    cpuSeconds: round(follower.cpuSeconds, 1),
    peakRssMb: Math.round(follower.maxRssMb),
    /** Where the batches' time went (debug log): totals and per-batch percentiles. */
    batches: first.log.summary(),
  },
  restart: {
    rows,
    /** WAL bytes after the slot's confirmed and restart positions when the follower was restarted. */
    slotWalBytes: { afterConfirmed: Number(slotWal?.confirmed), afterRestartLsn: Number(slotWal?.restart) },
    searchableAfterSeconds: round(restartSearchableSeconds, 2),
    followingAfterSeconds: restartFollowingSeconds === null ? null : round(restartFollowingSeconds, 2),
    /** Seconds since the restarted process started, per step (debug log). */
    steps: second.log.startup(),
    cpuSeconds: round(restart.cpuSeconds, 1),
    peakRssMb: Math.round(restart.maxRssMb),
  },
  load: { before: load0.map((l) => round(l, 2)), after: loadavg().map((l) => round(l, 2)) },
};
console.log(JSON.stringify(result, null, 2));
await mkdir("bench/results", { recursive: true });
await writeFile(
  `bench/results/${result.date.slice(0, 10)}-follow-${rate}${rows === 100_000 ? "" : `-rows${rows}`}.json`,
  `${JSON.stringify(result, null, 2)}\n`,
);
await dropSlot(admin, slot, slot);
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await es.client.indices.delete({ index, ignore_unavailable: true });
await rm(dir, { recursive: true, force: true });
await admin.end();
await es.client.close();
