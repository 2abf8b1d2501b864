/**
 * `npm run bench:profile -- [--size narrow200k] [--skip-load]`: a full sync and a re-sync of the
 * unchanged table, each in its own process under `node --cpu-prof`; prints the top self-time
 * functions of each. Profiles are left in bench/profiles/ (git-ignored) for Chrome DevTools.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { dataset } from "./datasets.js";
import { env, pgConnection } from "./env.js";
import { runChildPhase } from "./measure.js";
import { printSummary } from "./profile-summary.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "narrow200k" },
    "skip-load": { type: "boolean", default: false },
    top: { type: "string", default: "20" },
  },
});
const data = dataset(values.size);
if (!values["skip-load"]) {
  const admin = new pg.Client(pgConnection());
  await admin.connect();
  await data.load(admin);
  await admin.end();
}
const es = await connectElasticsearch({ host: env("ES_URL"), requestTimeoutMs: 120_000 });
const index = `bench-${values.size}-profile`;
await es.client.indices.delete({ index, ignore_unavailable: true });
await es.client.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);
const dir = join(import.meta.dirname, "profiles");
await mkdir(dir, { recursive: true });
for (const name of ["full-sync", "re-sync-unchanged"]) {
  const report = await runChildPhase({ kind: "sync", schema: data.schema, index }, [
    "--cpu-prof",
    "--cpu-prof-dir",
    dir,
    "--cpu-prof-name",
    `${values.size}-${name}.cpuprofile`,
  ]);
  process.stdout.write(
    `\n## ${name}: ${report.rowsRead} rows read, ${report.docsSent} sent, ${report.seconds.toFixed(1)} s, ${report.cpuSeconds.toFixed(1)} CPU-s`,
  );
  await printSummary(join(dir, `${values.size}-${name}.cpuprofile`), Number(values.top));
}
await es.client.indices.delete({ index, ignore_unavailable: true });
await es.client.close();
