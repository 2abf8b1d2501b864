import type { Client as EsClient } from "@elastic/elasticsearch";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/logger.js";
import { BasicRuleEngine } from "../../src/rules/basic.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { DEFAULT_SYNC_OPTIONS } from "../../src/config/index.js";
import { FollowDocumentError } from "../../src/errors.js";
import { FAILURES_INDEX } from "../../src/sync/failures-index.js";
import { ChangeFollower, dropSlot, type AppliedBatch, type FollowOptions } from "../../src/sync/follow.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";
import { waitFor } from "../helpers/wait.js";
import { runCliAsync } from "../helpers/cli.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("follow");
const slot = uniqueName("pgsearch_follow");
const cliSlot = uniqueName("pgsearch_cli");
const schemaSlot = uniqueName("pgsearch_schema");
const joinSlot = uniqueName("pgsearch_join");
const blockSlot = uniqueName("pgsearch_block");
const keySlot = uniqueName("pgsearch_key");
const sizeSlot = uniqueName("pgsearch_size");
const busySlot = uniqueName("pgsearch_busy");
const index = uniqueName("search-follow");
const BIG_TEXT = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g)"; // ~13 kB, TOASTed

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".live (id int PRIMARY KEY, name text, body text);
    INSERT INTO "${schema}".live SELECT g, 'row ' || g, NULL FROM generate_series(1, 100) g;
    CREATE TABLE "${schema}".other (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}".other SELECT g, 'v' || g FROM generate_series(1, 50) g;
    CREATE TABLE "${schema}".codes (code char(4) PRIMARY KEY, label text);
    INSERT INTO "${schema}".codes VALUES ('ab', 'first'), ('wxyz', 'second');
  `);
});

afterAll(async () => {
  // Never leave a slot behind: it would retain WAL forever.
  await dropSlot(admin, slot, slot).catch(() => undefined);
  await dropSlot(admin, cliSlot, cliSlot).catch(() => undefined);
  await dropSlot(admin, schemaSlot, schemaSlot).catch(() => undefined);
  await dropSlot(admin, joinSlot, joinSlot).catch(() => undefined);
  await dropSlot(admin, blockSlot, blockSlot).catch(() => undefined);
  await dropSlot(admin, keySlot, keySlot).catch(() => undefined);
  await dropSlot(admin, sizeSlot, sizeSlot).catch(() => undefined);
  await dropSlot(admin, busySlot, busySlot).catch(() => undefined);
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${index}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

/** Waits for the document to reach a state; returns how long it took (printed, never asserted). */
async function searchable(
  id: string,
  predicate: (doc: Record<string, unknown> | undefined) => boolean,
  hangGuardMs = 120_000,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    const result = await es.search<Record<string, unknown>>({ index, query: { ids: { values: [id] } } });
    if (predicate(result.hits.hits[0]?._source)) return Date.now() - started;
    if (Date.now() - started > hangGuardMs)
      throw new Error(`document ${id} did not reach the expected state`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const docId = (table: string, id: number): string => `${stack.pgDatabase()}_${schema}_${table}_${id}`;

describe("continuous change capture (logical replication, pgoutput)", () => {
  it("inserts, updates, deletes and truncates reach the index in seconds; TOAST-unchanged columns survive", async () => {
    const config = sourceConfig({ schema });
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan([]);
    const follower = new ChangeFollower(source, es, plan, silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    expect(await follower.ensureSlot({ slotName: slot, publication: slot }, pgAdmin)).toBe("created");
    await pgAdmin.end();
    // Changes between the slot and the snapshot are replayed, not lost.
    await admin.query(`INSERT INTO "${schema}".live VALUES (1000, 'between slot and snapshot', NULL)`);
    const initial = await runTestSync({ index, source: config, es });
    expect(initial.status).toBe("completed");

    const controller = new AbortController();
    const applied: AppliedBatch[] = [];
    const running = follower.run({
      indexName: index,
      slotName: slot,
      publication: slot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
      onApplied: (batch) => applied.push(batch),
    });
    try {
      await admin.query(`INSERT INTO "${schema}".live VALUES (101, 'inserted', ${BIG_TEXT})`);
      const insertMs = await searchable(
        docId("live", 101),
        (doc) => doc?.[`${schema}_live_name`] === "inserted",
      );
      await admin.query(`UPDATE "${schema}".live SET name = 'renamed' WHERE id = 101`);
      const updateMs = await searchable(
        docId("live", 101),
        (doc) => doc?.[`${schema}_live_name`] === "renamed",
      );
      // The update did not touch the TOASTed body: it must still be there, whole.
      const doc = (await es.get<Record<string, unknown>>({ index, id: docId("live", 101) }))._source ?? {};
      expect(String(doc[`${schema}_live_body`])).toHaveLength(400 * 32);
      await admin.query(`DELETE FROM "${schema}".live WHERE id = 5`);
      const deleteMs = await searchable(docId("live", 5), (d) => d === undefined);
      console.log(`commit → searchable: insert ${insertMs} ms, update ${updateMs} ms, delete ${deleteMs} ms`);

      // A char(n) key arrives padded from pgoutput and matches the document's padded id.
      const codeId = `${stack.pgDatabase()}_${schema}_codes_ab  `;
      await admin.query(`UPDATE "${schema}".codes SET label = 'changed' WHERE code = 'ab'`);
      await searchable(codeId, (d) => d?.[`${schema}_codes_label`] === "changed");
      await admin.query(`DELETE FROM "${schema}".codes WHERE code = 'wxyz'`);
      await searchable(`${stack.pgDatabase()}_${schema}_codes_wxyz`, (d) => d === undefined);
      await searchable(codeId, (d) => d?.[`${schema}_codes_label`] === "changed");

      await admin.query(`TRUNCATE "${schema}".other`);
      await searchable(docId("other", 1), (d) => d === undefined);
      await es.indices.refresh({ index });
      expect((await es.count({ index, query: { term: { table: "other" } } })).count).toBe(0);
      expect((await es.count({ index, query: { term: { table: "live" } } })).count).toBe(101);
    } finally {
      controller.abort();
      await running;
    }
    expect(applied.length).toBeGreaterThan(0);
    // The slot position moved past what was applied (acknowledged after Elasticsearch confirmed).
    const slotRow = await admin.query<{ lag: string }>(
      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1",
      [slot],
    );
    expect(Number(slotRow.rows[0]?.lag)).toBeLessThan(10 * 1024 * 1024);
    // The index equals the table, row by row.
    const docs = await allDocuments(es, index);
    const rows = await admin.query<{ id: number; name: string }>(`SELECT id, name FROM "${schema}".live`);
    expect([...docs.keys()].filter((id) => id.includes("_live_")).length).toBe(rows.rowCount);
    for (const row of rows.rows) {
      expect(docs.get(docId("live", row.id))?.[`${schema}_live_name`], String(row.id)).toBe(row.name);
    }
  }, 300_000);

  it("kill -9 while following, changes while it is down, restart, a broken stream reconnects: the index equals the database", async () => {
    const cliIndex = `${index}-cli`;
    const dir = mkdtempSync(join(tmpdir(), "pgsearch-follow-"));
    const configPath = join(dir, "connector.yml");
    writeFileSync(
      configPath,
      [
        `elasticsearch: {host: "${stack.esUrl()}"}`,
        `index_name: ${cliIndex}`,
        "configuration:",
        `  host: ${stack.pgHost()}`,
        `  port: ${stack.pgPort()}`,
        `  username: ${stack.pgUser()}`,
        "  password: ${PGPASSWORD}",
        `  database: ${stack.pgDatabase()}`,
        `  schema: ${schema}`,
        "  tables: live",
      ].join("\n"),
    );
    const start = (): ChildProcess =>
      spawn(
        process.execPath,
        ["--import", "tsx", "src/cli/main.ts", "sync", "--config", configPath, "--follow", "--slot", cliSlot],
        {
          env: process.env,
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
    const untilCli = async (probe: () => boolean | Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 180_000; // a hang guard: the probes are events
      while (!(await probe())) {
        if (Date.now() > deadline) throw new Error(`timed out; the CLI said:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const doc = async (id: number): Promise<Record<string, unknown> | undefined> =>
      (
        await es.get<Record<string, unknown>>(
          { index: cliIndex, id: `${stack.pgDatabase()}_${schema}_live_${id}` },
          { ignore: [404] },
        )
      )._source;

    let child = start();
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    await untilCli(() => stderr.includes("following changes"));
    expect(stderr).toContain(`full sync first: slot ${cliSlot} is new`);
    await admin.query(`INSERT INTO "${schema}".live VALUES (200, 'while following', NULL)`);
    await untilCli(async () => (await doc(200)) !== undefined);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    // Changes while nobody follows: the slot keeps them.
    await admin.query(`INSERT INTO "${schema}".live VALUES (201, 'while down', NULL)`);
    await admin.query(`UPDATE "${schema}".live SET name = 'updated while down' WHERE id = 10`);
    await admin.query(`DELETE FROM "${schema}".live WHERE id = 11`);

    child = start();
    stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await untilCli(() => stderr.includes("following changes"));
      // The slot kept its position: the restart streams at once, without reading everything again.
      expect(stderr).not.toContain("full sync first");
      expect(stderr).toContain("from its position");
      await untilCli(async () => (await doc(201)) !== undefined);
      // A second follower of the same slot is refused at once, naming the holder.
      const second = await runCliAsync("sync", "--config", configPath, "--follow", "--slot", cliSlot);
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`slot ${cliSlot} is in use by ${hostname()}/${String(child.pid)}`);
      await admin.query(`INSERT INTO "${schema}".live VALUES (202, 'after restart', NULL)`);
      await untilCli(async () => (await doc(202)) !== undefined);
      // The stream breaks under a running follower (walsender killed): it reconnects by itself.
      await admin.query(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1",
        [cliSlot],
      );
      await admin.query(`INSERT INTO "${schema}".live VALUES (203, 'while reconnecting', NULL)`);
      await untilCli(() => stderr.includes("reconnecting in"));
      await untilCli(async () => (await doc(203)) !== undefined);
      const docs = await allDocuments(es, cliIndex);
      const rows = await admin.query<{ id: number; name: string }>(`SELECT id, name FROM "${schema}".live`);
      expect(docs.size).toBe(rows.rowCount);
      for (const row of rows.rows) {
        expect(
          docs.get(`${stack.pgDatabase()}_${schema}_live_${row.id}`)?.[`${schema}_live_name`],
          String(row.id),
        ).toBe(row.name);
      }
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null && child.signalCode === null)
        await new Promise((resolve) => child.once("exit", resolve));
    }
  }, 360_000);

  it("schema changes: a new column is followed without a restart; slot lag is reported; a dropped table stops it clearly", async () => {
    await admin.query(`
      CREATE TABLE "${schema}".evolving (id int PRIMARY KEY, name text);
      INSERT INTO "${schema}".evolving VALUES (1, 'one'), (2, 'two');
      CREATE TABLE "${schema}".doomed (id int PRIMARY KEY);
    `);
    const config = sourceConfig({ schema, tables: "evolving, doomed" });
    const source = new PostgresSource(config, connectionFactory(config));
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_: object, msg?: string) => void warnings.push(msg ?? "") };
    logger.child = () => logger;
    const follower = new ChangeFollower(source, es, await source.plan([]), logger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: schemaSlot, publication: schemaSlot }, pgAdmin);
    await pgAdmin.end();
    const schemaIndex = `${index}-schema`;
    await runTestSync({ index: schemaIndex, source: config, es });
    const controller = new AbortController();
    const health: number[] = [];
    const running = follower.run({
      indexName: schemaIndex,
      slotName: schemaSlot,
      publication: schemaSlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
      healthCheckMs: 300,
      maxRetainedBytes: 1,
      onHealth: (h) => health.push(h.retainedBytes),
    });
    const evolving = (id: number) => `${stack.pgDatabase()}_${schema}_evolving_${id}`;
    const get = async (id: number) =>
      (await es.get<Record<string, unknown>>({ index: schemaIndex, id: evolving(id) }, { ignore: [404] }))
        ._source;
    try {
      await admin.query(`UPDATE "${schema}".evolving SET name = 'uno' WHERE id = 1`);
      await waitFor(
        () => get(1),
        (d) => d?.[`${schema}_evolving_name`] === "uno",
        "row 1's new name",
      );
      expect((await get(1))?.[`${schema}_evolving_name`]).toBe("uno");
      await admin.query(`ALTER TABLE "${schema}".evolving ADD COLUMN color text`);
      await admin.query(`UPDATE "${schema}".evolving SET color = 'blue' WHERE id = 2`);
      await waitFor(
        () => get(2),
        (d) => d?.[`${schema}_evolving_color`] === "blue",
        "row 2's new column",
      );
      expect(await get(2)).toMatchObject({
        [`${schema}_evolving_color`]: "blue",
        [`${schema}_evolving_name`]: "two",
      });
      // WAL written all the time (messages the publication does not carry): an idle follower
      // confirms it from keepalives, a moment later, so a health check sees some retained.
      const retains = () => warnings.some((w) => w.includes(`replication slot ${schemaSlot} retains`));
      await waitFor(
        async () => {
          await admin.query("SELECT pg_logical_emit_message(false, 'pgsearch-test', 'unconfirmed')");
          return retains();
        },
        (done) => done,
        "the slot-retention warning",
      );
      expect(health.length).toBeGreaterThan(0);
      expect(retains()).toBe(true);

      await admin.query(`DROP TABLE "${schema}".doomed`);
      await expect(running).rejects.toThrow(new RegExp(`${schema}\\.doomed: the table was dropped`));
    } finally {
      controller.abort();
      await running.catch(() => undefined);
    }
  }, 180_000);

  it("advanced rules with a JOIN are re-evaluated for the changed keys of either table, and read again after a TRUNCATE", async () => {
    await admin.query(`
      CREATE TABLE "${schema}".employee (emp_id int PRIMARY KEY, name text);
      CREATE TABLE "${schema}".customer (c_id int PRIMARY KEY, name text);
      INSERT INTO "${schema}".employee VALUES (3, 'John'), (10, 'Jane'), (14, 'Alex');
      INSERT INTO "${schema}".customer VALUES (3, 'Ash'), (6, 'Pine');
    `);
    const config = sourceConfig({ schema });
    const joinRule = {
      tables: ["employee", "customer"],
      query:
        "SELECT emp_id, employee.name AS emp_name, c_id, customer.name AS cust_name FROM employee INNER JOIN customer ON employee.emp_id = customer.c_id",
    };
    const rules = [{ index: 0, ...joinRule }];
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan(rules);
    const follower = new ChangeFollower(source, es, plan, silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: joinSlot, publication: joinSlot }, pgAdmin);
    await pgAdmin.end();
    const joinIndex = `${index}-join`;
    await runTestSync({
      index: joinIndex,
      source: config,
      es,
      advanced: [joinRule],
    });
    const id = (e: number, c: number) => `${stack.pgDatabase()}_${schema}_customer_employee_${e}_${c}`;
    const ids = async () => [...(await allDocuments(es, joinIndex)).keys()].sort();
    expect(await ids()).toEqual([id(3, 3)]);
    const controller = new AbortController();
    const running = follower.run({
      indexName: joinIndex,
      slotName: joinSlot,
      publication: joinSlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
    });
    const until = async (probe: () => Promise<boolean>) => {
      await waitFor(probe, (done) => done, "the rule's documents");
    };
    try {
      // A new customer joins an existing employee: a new row of the rule.
      await admin.query(`INSERT INTO "${schema}".customer VALUES (10, 'Oak')`);
      await until(async () => (await ids()).includes(id(10, 10)));
      // The employee side changes: the joined document follows.
      const empName = async (): Promise<unknown> =>
        (await allDocuments(es, joinIndex)).get(id(10, 10))?.[`${schema}_customer_employee_emp_name`];
      expect(await empName()).toBe("Jane");
      await admin.query(`UPDATE "${schema}".employee SET name = 'Janet' WHERE emp_id = 10`);
      await until(async () => (await empName()) === "Janet");
      // The customer goes: the joined row leaves the rule's result, and the index.
      await admin.query(`DELETE FROM "${schema}".customer WHERE c_id = 3`);
      await until(async () => !(await ids()).includes(id(3, 3)));
      expect(await ids()).toEqual([id(10, 10)]);
      // TRUNCATE of one side: the rule is read again whole, and its documents go.
      await admin.query(`INSERT INTO "${schema}".customer VALUES (14, 'Elm')`);
      await until(async () => (await ids()).includes(id(14, 14)));
      await admin.query(`TRUNCATE "${schema}".customer`);
      await until(async () => (await ids()).length === 0);
      await admin.query(`INSERT INTO "${schema}".customer VALUES (3, 'Ash')`);
      await until(async () => (await ids()).includes(id(3, 3)));
      expect(await ids()).toEqual([id(3, 3)]);
    } finally {
      controller.abort();
      await running;
    }
  }, 180_000);
  it("a change Elasticsearch refuses (index write block) is not confirmed: follow stops naming it, and a restart applies it", async () => {
    await admin.query(`
      CREATE TABLE "${schema}".guarded (id int PRIMARY KEY, name text);
      INSERT INTO "${schema}".guarded VALUES (1, 'one'), (2, 'two');
    `);
    const config = sourceConfig({ schema, tables: "guarded" });
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan([]);
    const pgAdmin = await connectionFactory(config).connect();
    await new ChangeFollower(source, es, plan, silentLogger).ensureSlot(
      { slotName: blockSlot, publication: blockSlot },
      pgAdmin,
    );
    await pgAdmin.end();
    const blockIndex = `${index}-block`;
    expect((await runTestSync({ index: blockIndex, source: config, es })).status).toBe("completed");
    const guarded = (id: number): string => `${stack.pgDatabase()}_${schema}_guarded_${id}`;
    const name = async (id: number): Promise<unknown> =>
      (await es.get<Record<string, unknown>>({ index: blockIndex, id: guarded(id) }, { ignore: [404] }))
        ._source?.[`${schema}_guarded_name`];
    const block = (on: boolean) =>
      es.indices.putSettings({ index: blockIndex, settings: { "index.blocks.write": on } });
    const follow = (
      extra: Partial<FollowOptions> = {},
    ): { controller: AbortController; running: Promise<void> } => {
      const controller = new AbortController();
      const running = new ChangeFollower(source, es, plan, silentLogger).run({
        indexName: blockIndex,
        slotName: blockSlot,
        publication: blockSlot,
        basicRules: new BasicRuleEngine([]),
        sync: DEFAULT_SYNC_OPTIONS,
        signal: controller.signal,
        documentRetryDelaysMs: [100, 200],
        ...extra,
      });
      return { controller, running };
    };
    try {
      // Blocked while the row changes: retried, then follow stops naming the document.
      await block(true);
      const first = follow();
      await admin.query(`UPDATE "${schema}".guarded SET name = 'changed while blocked' WHERE id = 1`);
      const error = await first.running.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(FollowDocumentError);
      expect((error as Error).message).toContain(guarded(1));
      expect((error as Error).message).toMatch(/cluster_block_exception|blocked/);
      // The block is lifted and follow restarts: the slot kept the change, it arrives.
      await block(false);
      const second = follow();
      try {
        await waitFor(
          () => name(1),
          (n) => n === "changed while blocked",
          "the kept change after the restart",
        );
      } finally {
        second.controller.abort();
        await second.running;
      }
      // Opt-in: record the refused change in the failures index and go on.
      await block(true);
      const applied: AppliedBatch[] = [];
      const third = follow({ onDocumentError: "record", onApplied: (b) => applied.push(b) });
      try {
        await admin.query(`UPDATE "${schema}".guarded SET name = 'recorded' WHERE id = 2`);
        await waitFor(
          () => applied.some((b) => b.recorded > 0),
          (done) => done,
          "a recorded failure",
        );
        const recorded = await es.search<{ document_id: string; reason: string; source: string }>({
          index: FAILURES_INDEX,
          query: { term: { document_id: guarded(2) } },
        });
        expect(recorded.hits.hits[0]?._source?.source).toContain("recorded");
        expect(recorded.hits.hits[0]?._source?.reason).toMatch(/block/);
      } finally {
        third.controller.abort();
        await third.running;
      }
    } finally {
      await block(false);
    }
  }, 240_000);
  it("an error inside the change handler (a primary key changed under the follower) ends run() with the message, no unhandled rejection", async () => {
    await admin.query(`
      CREATE TABLE "${schema}".rekeyed (id int PRIMARY KEY, code text NOT NULL);
      INSERT INTO "${schema}".rekeyed VALUES (1, 'a'), (2, 'b');
    `);
    const config = sourceConfig({ schema, tables: "rekeyed" });
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan([]);
    const follower = new ChangeFollower(source, es, plan, silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: keySlot, publication: keySlot }, pgAdmin);
    await pgAdmin.end();
    const keyIndex = `${index}-rekeyed`;
    await runTestSync({ index: keyIndex, source: config, es });
    const controller = new AbortController();
    // One key per batch: the batch is applied inside the replication data handler.
    const running = follower.run({
      indexName: keyIndex,
      slotName: keySlot,
      publication: keySlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
      maxBatchKeys: 1,
      maxDelayMs: 60_000,
    });
    try {
      await admin.query(`
        ALTER TABLE "${schema}".rekeyed DROP CONSTRAINT rekeyed_pkey;
        ALTER TABLE "${schema}".rekeyed ADD PRIMARY KEY (code);
        UPDATE "${schema}".rekeyed SET code = 'c' WHERE id = 1;
      `);
      await expect(running).rejects.toThrow(/primary key changed from \(id\) to \(code\)/);
    } finally {
      controller.abort();
      await running.catch(() => undefined);
    }
  }, 180_000);
  it("a row that grows over max_document_size keeps its document in follow mode, as in a full sync (one rule, issue 10.9)", async () => {
    await admin.query(`
      CREATE TABLE "${schema}".sized (id int PRIMARY KEY, body text);
      INSERT INTO "${schema}".sized VALUES (1, 'small'), (2, 'small too');
    `);
    const config = sourceConfig({ schema, tables: "sized", max_document_size: 2048 });
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan([]);
    const follower = new ChangeFollower(source, es, plan, silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: sizeSlot, publication: sizeSlot }, pgAdmin);
    await pgAdmin.end();
    const sizeIndex = `${index}-sized`;
    expect((await runTestSync({ index: sizeIndex, source: config, es })).status).toBe("completed");
    const controller = new AbortController();
    const applied: AppliedBatch[] = [];
    const running = follower.run({
      indexName: sizeIndex,
      slotName: sizeSlot,
      publication: sizeSlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
      onApplied: (batch) => applied.push(batch),
    });
    const body = async (id: number): Promise<unknown> =>
      (await allDocuments(es, sizeIndex)).get(`${stack.pgDatabase()}_${schema}_sized_${id}`)?.[
        `${schema}_sized_body`
      ];
    try {
      await admin.query(`UPDATE "${schema}".sized SET body = repeat('x', 5000) WHERE id = 1`);
      await admin.query(`UPDATE "${schema}".sized SET body = 'changed' WHERE id = 2`);
      await waitFor(
        () => body(2),
        (b) => b === "changed",
        "row 2's new body",
      );
      // Applied, not sent, not deleted: the document keeps its last indexable version.
      expect(applied.length).toBeGreaterThan(0);
      expect(await body(1)).toBe("small");
    } finally {
      controller.abort();
      await running;
    }
  }, 180_000);
  it("a slot another consumer streams is reported as in use, not with PostgreSQL's raw message", async () => {
    const config = sourceConfig({ schema, tables: "other" });
    const source = new PostgresSource(config, connectionFactory(config));
    const plan = await source.plan([]);
    const pgAdmin = await connectionFactory(config).connect();
    await new ChangeFollower(source, es, plan, silentLogger).ensureSlot(
      { slotName: busySlot, publication: busySlot },
      pgAdmin,
    );
    const options = (signal: AbortSignal): FollowOptions => ({
      indexName: `${index}-busy`,
      slotName: busySlot,
      publication: busySlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal,
    });
    const first = new AbortController();
    const running = new ChangeFollower(source, es, plan, silentLogger).run(options(first.signal));
    try {
      await waitFor(
        async () =>
          (
            await pgAdmin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active", [
              busySlot,
            ])
          ).rowCount,
        (active) => active === 1,
        "the first follower to stream from the slot",
      );
      const second = new ChangeFollower(source, es, plan, silentLogger).run(
        options(new AbortController().signal),
      );
      await expect(second).rejects.toThrow(new RegExp(`slot ${busySlot} is in use by another consumer`));
    } finally {
      first.abort();
      await running;
      await pgAdmin.end();
    }
  }, 180_000);
});
