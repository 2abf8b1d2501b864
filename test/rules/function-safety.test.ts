/**
 * Issue 10 items 11 and 12: an advanced rule cannot write through a function (a READ ONLY
 * transaction does not stop large objects, slots, settings, file reads, signals, advisory locks,
 * notifications), judged against the server's own catalog; and a trailing `-- comment` works.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SyncRuleError } from "../../src/errors.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { prepareRules } from "../../src/sync/prepare.js";
import { runCli } from "../helpers/cli.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

const schema = uniqueName("fnsafe");
const index = schema.replaceAll("_", "-");
let admin: pg.Client;
let es: EsClient;

/** The stack's read-only role: no superuser, no REPLICATION, SELECT on the test schema. */
const readOnly = (): ReturnType<typeof sourceConfig> =>
  sourceConfig({
    username: process.env.PG_RO_USER ?? "pgsearch_ro",
    password: process.env.PG_RO_PASSWORD ?? "",
    schema,
  });

async function planError(query: string): Promise<SyncRuleError> {
  const rules = await prepareRules({ basic: [], advanced: [{ tables: ["t"], query }] });
  const config = readOnly();
  const error: unknown = await new PostgresSource(config, connectionFactory(config))
    .plan(rules.advanced)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(SyncRuleError);
  return error as SyncRuleError;
}

/** A column's value in a compat-mode document, whose fields are prefixed `{schema}_{table}_`. */
const pick = (doc: Record<string, unknown>, column: string): unknown =>
  Object.entries(doc).find(([key]) => key === column || key.endsWith(`_${column}`))?.[1];

const largeObjects = async (): Promise<number> =>
  Number((await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_largeobject_metadata")).rows[0]?.n);

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  const ro = process.env.PG_RO_USER ?? "pgsearch_ro";
  await admin.query(`CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.t (id int PRIMARY KEY, name text);
    INSERT INTO ${schema}.t VALUES (1, 'one'), (2, 'two');
    CREATE FUNCTION ${schema}.unlink_it(oid) RETURNS int LANGUAGE sql AS 'SELECT lo_unlink($1)';
    CREATE FUNCTION ${schema}.quiet(text) RETURNS text LANGUAGE plpgsql STABLE
      AS $$ BEGIN PERFORM pg_notify('c', $1); RETURN $1; END $$;
    CREATE FUNCTION ${schema}.shout(text, text) RETURNS text LANGUAGE sql VOLATILE
      AS 'SELECT set_config(''application_name'', $2, false)';
    CREATE OPERATOR ${schema}.!! (LEFTARG = text, RIGHTARG = text, FUNCTION = ${schema}.shout);
    CREATE VIEW ${schema}.v AS SELECT id, set_config('work_mem', '64MB', false) AS s FROM ${schema}.t;
    GRANT USAGE ON SCHEMA ${schema} TO ${ro};
    GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${ro};`);
});

afterAll(async () => {
  await es.indices.delete({ index, ignore_unavailable: true });
  await dropSchema(admin, schema);
  await admin.end();
});

describe("advanced rules may not call functions that change state", () => {
  it.each([
    ["SELECT id, lo_from_bytea(0, 'x') AS lo FROM t", "pg_catalog.lo_from_bytea, a large-object function"],
    ["SELECT id, lo_unlink(1) FROM t", "pg_catalog.lo_unlink, a large-object function"],
    ["SELECT id, lo_import('/etc/hostname') FROM t", "pg_catalog.lo_import, a large-object function"],
    [
      "SELECT id, s.* FROM t, pg_create_logical_replication_slot('x', 'pgoutput') s",
      "pg_catalog.pg_create_logical_replication_slot, a replication/WAL function",
    ],
    [
      "SELECT id, set_config('work_mem', '1GB', false) FROM t",
      "pg_catalog.set_config, a configuration function",
    ],
    ["SELECT id, pg_read_file('/etc/hostname') FROM t", "pg_catalog.pg_read_file, a server-file function"],
    ["SELECT id, pg_reload_conf() FROM t", "pg_catalog.pg_reload_conf, a configuration function"],
    ["SELECT id, pg_advisory_lock(42) FROM t", "pg_catalog.pg_advisory_lock, an advisory-lock function"],
    [
      "SELECT id FROM t WHERE pg_catalog.pg_notify('c', name) IS NULL",
      "pg_catalog.pg_notify, a notify function",
    ],
    ["SELECT id, nextval('s') FROM t", "pg_catalog.nextval, VOLATILE"],
    [`SELECT id, unlink_it(1) FROM t`, `${schema}.unlink_it, VOLATILE`],
    [`SELECT id, quiet(name) FROM t`, `${schema}.quiet, a function whose body calls pg_notify`],
    [`SELECT id, name OPERATOR(${schema}.!!) 'x' FROM t`, `calls operator !!, which calls ${schema}.shout`],
    [`SELECT * FROM v`, `reads view v, which calls pg_catalog.set_config`],
  ])("refuses %s, naming the function", async (query, named) => {
    const error = await planError(query);
    expect(error.message).toContain("sync rule advanced[0]: the query");
    expect(error.message).toContain(named);
  });

  it("a sync of a large-object rule fails before anything is written, and no large object appears", async () => {
    const before = await largeObjects();
    const sync = runTestSync({
      index,
      source: readOnly(),
      es,
      advanced: [{ tables: ["t"], query: "SELECT id, lo_from_bytea(0, 'x') AS lo FROM t" }],
    });
    await expect(sync).rejects.toThrow(/lo_from_bytea, a large-object function/);
    expect(await largeObjects()).toBe(before);
  });

  it("validate exits 2 naming the function", () => {
    const dir = mkdtempSync(join(tmpdir(), "pgsearch-fnsafe-"));
    const path = join(dir, "c.yml");
    writeFileSync(
      path,
      [
        `elasticsearch:\n  host: ${stack.esUrl()}\nindex_name: ${index}\nconfiguration:`,
        `  host: ${stack.pgHost()}\n  port: ${stack.pgPort()}\n  username: ${process.env.PG_RO_USER ?? "pgsearch_ro"}`,
        "  password: ${PG_RO_PASSWORD}",
        `  database: ${stack.pgDatabase()}\n  schema: ${schema}`,
        `sync_rules:\n  advanced: '[{"tables": ["t"], "query": "SELECT id, pg_advisory_lock(1) FROM t"}]'\n`,
      ].join("\n"),
    );
    const result = runCli("validate", "--config", path);
    expect(result.stdout).not.toContain("warning:");
    expect(result.stderr).toMatch(
      /sync rule advanced\[0\]: .*pg_catalog\.pg_advisory_lock, an advisory-lock function/,
    );
    expect(result.status).toBe(2);
  });
});

describe("what rules may call, and how they may end", () => {
  it("validate warns when the role is a superuser, which pgsearch never needs", () => {
    const path = join(mkdtempSync(join(tmpdir(), "pgsearch-fnsafe-")), "c.yml");
    writeFileSync(
      path,
      [
        `elasticsearch:\n  host: ${stack.esUrl()}\nindex_name: ${index}\nconfiguration:`,
        `  host: ${stack.pgHost()}\n  port: ${stack.pgPort()}\n  username: ${stack.pgUser()}`,
        "  password: ${PGPASSWORD}",
        `  database: ${stack.pgDatabase()}\n  schema: ${schema}\n`,
      ].join("\n"),
    );
    const result = runCli("validate", "--config", path);
    expect(result.stdout).toContain(`warning: role ${stack.pgUser()} is a superuser`);
    expect(result.status).toBe(0);
  });

  it("allows random(), clock_timestamp(), now() and ordinary functions, and syncs the rows", async () => {
    const result = await runTestSync({
      index,
      source: readOnly(),
      es,
      advanced: [
        {
          tables: ["t"],
          query:
            "SELECT id, upper(name) AS name, random() < 2 AS r, clock_timestamp() > now() - interval '1 day' AS c FROM t",
        },
      ],
    });
    expect(result.status).toBe("completed");
    const docs = [...(await allDocuments(es, index)).values()].sort(
      (a, b) => Number(pick(a, "id")) - Number(pick(b, "id")),
    );
    expect(docs.map((d) => [pick(d, "name"), pick(d, "r"), pick(d, "c")])).toEqual([
      ["ONE", true, true],
      ["TWO", true, true],
    ]);
  });

  it.each([
    ["SELECT id, name FROM t -- every row"],
    ["SELECT id, name FROM t; -- every row"],
    ["SELECT id, name FROM t /* every */ ; -- row\n-- and a second comment line"],
  ])("a trailing comment works: %j", async (query) => {
    const result = await runTestSync({ index, source: readOnly(), es, advanced: [{ tables: ["t"], query }] });
    expect(result.status).toBe("completed");
    expect([...(await allDocuments(es, index)).values()].map((d) => pick(d, "name")).sort()).toEqual([
      "one",
      "two",
    ]);
  });
});
