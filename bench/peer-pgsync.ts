/**
 * PGSync (PyPI `pgsync`, MIT) as a peer: installed into a cached venv, with a Redis of its own
 * (Debian's redis-server) on port 56379, run once without `--daemon` (a full sync, then exit)
 * on the bench's table into its own index. Bootstrap (triggers, slot) is setup, not measured;
 * the sync is, with /usr/bin/time. PGSync's defaults, except a 120 s Elasticsearch timeout
 * (its 10 s default with no retries fails bulks on this loaded 2-core machine).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pgConnection } from "./env.js";
import { indexSize } from "./index-size.js";
import { cpuSecondsOf, measurePhase, runTimed } from "./measure.js";
import type { PeerContext } from "./peers.js";

export const PGSYNC_VERSION = "7.3.0";
const VENV = "/var/cache/pgsearch-bench/pgsync-venv";
const REDIS_PORT = 56379;

async function ensureInstalled(): Promise<void> {
  if (!existsSync("/usr/bin/redis-server")) {
    await runTimed("apt-get", ["install", "-y", "-q", "redis-server"], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  }
  if (!existsSync(`${VENV}/bin/pgsync`)) {
    await runTimed("python3", ["-m", "venv", VENV]);
    await runTimed(`${VENV}/bin/pip`, ["install", "-q", `pgsync==${PGSYNC_VERSION}`]);
  }
}

export async function runPgsync(ctx: PeerContext): ReturnType<typeof import("./peers.js").runPeer> {
  await ensureInstalled();
  const dir = await mkdtemp(join(tmpdir(), "pgsearch-pgsync-"));
  const redis = spawn(
    "/usr/bin/redis-server",
    ["--port", String(REDIS_PORT), "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: "ignore" },
  );
  const index = `bench-${ctx.data.name}-pgsync`;
  await ctx.es.indices.delete({ index, ignore_unavailable: true });
  const c = pgConnection();
  const schemaFile = join(dir, "schema.json");
  await writeFile(
    schemaFile,
    JSON.stringify(
      ctx.data.tables.map((t) => ({
        database: c.database,
        index,
        nodes: { table: t.name, schema: ctx.data.schema },
      })),
    ),
  );
  const env = {
    ...process.env,
    PG_HOST: c.host,
    PG_PORT: String(c.port),
    PG_USER: c.user,
    PG_PASSWORD: c.password,
    ELASTICSEARCH_URL: ctx.esUrl,
    ELASTICSEARCH_TIMEOUT: "120",
    REDIS_HOST: "127.0.0.1",
    REDIS_PORT: String(REDIS_PORT),
    CHECKPOINT_PATH: dir,
    // Answers the client's ping of `GET /`, which the test distribution lacks (peer-shims/).
    PYTHONPATH: join(import.meta.dirname, "peer-shims"),
    PGSEARCH_BENCH_ES_URL: ctx.esUrl,
  };
  try {
    await runTimed(`${VENV}/bin/bootstrap`, ["--config", schemaFile], { env, cwd: dir });
    const isRedis = (cmd: string): boolean =>
      cmd.includes(`redis-server`) && cmd.includes(String(REDIS_PORT));
    const redis0 = cpuSecondsOf(isRedis);
    const result = await measurePhase(
      { phase: "full sync", tool: `pgsync ${PGSYNC_VERSION}`, rep: ctx.rep },
      async () => {
        const run = await runTimed(`${VENV}/bin/pgsync`, ["--config", schemaFile], { env, cwd: dir });
        await ctx.es.indices.refresh({ index });
        const docs = (await ctx.es.count({ index })).count;
        return {
          ...run,
          rowsRead: docs,
          docsSent: docs,
          bytes: 0,
          extraToolCpu: cpuSecondsOf(isRedis) - redis0,
        };
      },
    );
    const size = await indexSize(ctx.es, index);
    await runTimed(`${VENV}/bin/bootstrap`, ["--teardown", "--config", schemaFile], { env, cwd: dir });
    return { result, size };
  } finally {
    redis.kill();
    await ctx.es.indices.delete({ index, ignore_unavailable: true });
    await rm(dir, { recursive: true, force: true });
  }
}
