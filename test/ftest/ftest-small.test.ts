import pg from "pg";
import { expect, it } from "vitest";
import { dataset } from "../../bench/datasets.js";
import { runFunctionalTest } from "../../bench/ftest-lib.js";
import { esClient, sourceConfig, stack } from "../helpers/stack.js";

it(
  "ftest --size small: full sync, insert/update/delete, re-sync, index equals the database document by document",
  { timeout: 300_000 },
  async () => {
    const data = dataset("small");
    const admin = new pg.Client({
      host: stack.pgHost(),
      port: stack.pgPort(),
      user: stack.pgUser(),
      password: stack.pgPassword(),
      database: stack.pgDatabase(),
    });
    await admin.connect();
    const es = await esClient();
    try {
      const report = await runFunctionalTest({
        data,
        admin,
        es,
        config: sourceConfig({ schema: data.schema }),
        index: "ftest-small-ci",
      });
      for (const check of report.checks) expect(check.ok, `${check.name}: ${check.detail}`).toBe(true);
    } finally {
      await es.indices.delete({ index: "ftest-small-ci", ignore_unavailable: true });
      await admin.query(`DROP SCHEMA IF EXISTS ${data.schema} CASCADE`);
      await admin.end();
      await es.close();
    }
  },
);
