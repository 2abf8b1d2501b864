/** `npm run ftest -- --size small|medium|large`: the functional test on the local stack. */
import { parseArgs } from "node:util";
import pg from "pg";
import { resolvePostgresConfig } from "../src/config/index.js";
import { connectElasticsearch } from "../src/sink/es-client.js";
import { dataset } from "./datasets.js";
import { env, pgConnection, sourceValues } from "./env.js";
import { runFunctionalTest } from "./ftest-lib.js";

const { values } = parseArgs({ options: { size: { type: "string", default: "small" } } });
const data = dataset(values.size);
const admin = new pg.Client(pgConnection());
await admin.connect();
const es = await connectElasticsearch({ host: env("ES_URL"), requestTimeoutMs: 120_000 });
const config = resolvePostgresConfig(sourceValues(data.schema));
const started = Date.now();
const report = await runFunctionalTest({ data, admin, es: es.client, config, index: `ftest-${data.name}` });
for (const c of report.checks)
  console.log(`${c.ok ? "PASS" : "FAIL"} ${c.name}${c.detail === "" ? "" : ` (${c.detail})`}`);
console.log(
  `ftest ${data.name}: ${report.passed ? "passed" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(0)}s ` +
    `(first sync ${(report.firstSync.durationMs / 1000).toFixed(1)}s, second ${(report.secondSync.durationMs / 1000).toFixed(1)}s)`,
);
await admin.end();
await es.client.close();
process.exitCode = report.passed ? 0 : 1;
