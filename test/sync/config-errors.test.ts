import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema } from "../helpers/fixtures.js";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { adminClient, esClient, uniqueName } from "../helpers/stack.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("cfgerr");
const emptySchema = uniqueName("cfgerr_empty");
const index = uniqueName("search-cfgerr");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE SCHEMA "${emptySchema}";
    CREATE TABLE "${schema}".items (id int PRIMARY KEY, name text);
    INSERT INTO "${schema}".items SELECT g, 'item ' || g FROM generate_series(1, 20) g;
  `);
  const first = await runCliAsync("sync", "--config", writeStackConfig({ index, schema }));
  expect(first.status, first.stderr).toBe(0);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await dropSchema(admin, emptySchema);
  await es.indices.delete({ index }).catch(() => undefined);
  await admin.end();
  await es.close();
});

async function count(): Promise<number> {
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
}

describe("a configuration that selects nothing deletes nothing (issue 10.4)", () => {
  it("a schema that does not exist fails validate and sync with exit 2, naming it; nothing is deleted", async () => {
    const config = writeStackConfig({ index, schema: `${schema}_typo` });
    const validate = await runCliAsync("validate", "--config", config);
    expect(validate.status).toBe(2);
    expect(validate.stderr).toContain(`schema "${schema}_typo" does not exist`);
    const sync = await runCliAsync("sync", "--config", config);
    expect(sync.status).toBe(2);
    expect(sync.stderr).toContain("configuration.schema");
    expect(await count()).toBe(20);
  });

  it("a configuration that yields zero tables while the index has documents is exit 2; nothing is deleted", async () => {
    const config = writeStackConfig({ index, schema: emptySchema });
    const validate = await runCliAsync("validate", "--config", config);
    expect(validate.status).toBe(2);
    expect(validate.stderr).toContain("selects no table");
    const sync = await runCliAsync("sync", "--config", config);
    expect(sync.status).toBe(2);
    expect(sync.stderr).toContain("selects no table");
    expect(await count()).toBe(20);
  });
});
