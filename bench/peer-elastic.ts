/**
 * Elastic's PostgreSQL connector as a peer: `--peer elastic=PATH`, PATH a checkout of
 * elastic/connectors outside this repository, with a venv of its requirements at PATH/../venv
 * (scripts/golden-compat.sh creates it). bench/elastic_sync.py drives its source's get_docs()
 * into its SyncOrchestrator, into an index of its own; measured with /usr/bin/time.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pgConnection } from "./env.js";
import { indexSize } from "./index-size.js";
import { measurePhase, runTimed } from "./measure.js";
import type { PeerContext } from "./peers.js";

export async function runElastic(
  ctx: PeerContext,
  checkout: string,
): ReturnType<typeof import("./peers.js").runPeer> {
  const python = join(resolve(checkout), "..", "venv", "bin", "python");
  if (!existsSync(python))
    throw new Error(`no venv at ${python}: run scripts/golden-compat.sh ${checkout} once to create it`);
  const commit = execFileSync("git", ["-C", checkout, "rev-parse", "--short=9", "HEAD"], {
    encoding: "utf8",
  }).trim();
  const index = `bench-${ctx.data.name}-elastic`;
  await ctx.es.indices.delete({ index, ignore_unavailable: true });
  const c = pgConnection();
  const env = {
    ...process.env,
    // Answers the client's ping of `GET /`, which the test distribution lacks (peer-shims/).
    PYTHONPATH: join(import.meta.dirname, "peer-shims"),
    PGSEARCH_BENCH_ES_URL: ctx.esUrl,
  };
  const args = [
    join(import.meta.dirname, "elastic_sync.py"),
    ctx.esUrl,
    index,
    c.host,
    String(c.port),
    c.user,
    c.password,
    c.database,
    ctx.data.schema,
  ];
  try {
    const result = await measurePhase(
      { phase: "full sync", tool: `elastic ${commit}`, rep: ctx.rep },
      async () => {
        const run = await runTimed(python, args, { env });
        const stats = JSON.parse(run.stdout.split("\n").findLast((l) => l.startsWith("{")) ?? "{}") as Record<
          string,
          number
        >;
        await ctx.es.indices.refresh({ index });
        const docs = (await ctx.es.count({ index })).count;
        return { ...run, rowsRead: stats.docs_extracted ?? docs, docsSent: docs, bytes: 0 };
      },
    );
    return { result, size: await indexSize(ctx.es, index) };
  } finally {
    await ctx.es.indices.delete({ index, ignore_unavailable: true });
  }
}
