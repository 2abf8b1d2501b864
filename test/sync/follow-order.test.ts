import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SYNC_OPTIONS } from "../../src/config/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { BasicRuleEngine } from "../../src/rules/basic.js";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { ChangeFollower, dropSlot, type AppliedBatch } from "../../src/sync/follow.js";
import { seesAll } from "../../src/sync/follow-apply.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";
import { waitFor } from "../helpers/wait.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("follow_order");
const slot = uniqueName("pgsearch_order");
const index = uniqueName("search-follow-order");
const ROWS = 20;

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".counters (id int PRIMARY KEY, n int NOT NULL);
    INSERT INTO "${schema}".counters SELECT g, 0 FROM generate_series(1, ${ROWS}) g;
    CREATE TABLE "${schema}".many (id int PRIMARY KEY, n int NOT NULL);
    INSERT INTO "${schema}".many SELECT g, 0 FROM generate_series(1, 2500) g;
  `);
});

afterAll(async () => {
  await dropSlot(admin, slot, slot).catch(() => undefined);
  await dropSlot(admin, `${slot}_many`, `${slot}_many`).catch(() => undefined);
  await dropSchema(admin, schema);
  await es.indices
    .delete({ index: [index, `${index}-many`], ignore_unavailable: true })
    .catch(() => undefined);
  await admin.end();
  await es.close();
});

describe("follow: batch order", () => {
  it("a batch is re-read only on a snapshot that sees all its transactions (PostgreSQL's own snapshot)", async () => {
    // Oracle: PostgreSQL's own snapshot, taken while another transaction holds its xid open.
    const other = await adminClient();
    try {
      await other.query("BEGIN");
      const xid = Number(
        (await other.query<{ x: string }>("SELECT txid_current() % 4294967296 AS x")).rows[0]?.x,
      );
      const snapshot = async () =>
        (await admin.query<{ s: string }>("SELECT txid_current_snapshot()::text AS s")).rows[0]?.s ?? "";
      expect(seesAll(await snapshot(), [xid])).toBe(false);
      await other.query("COMMIT");
      expect(seesAll(await snapshot(), [xid])).toBe(true);
      expect(seesAll(await snapshot(), [xid + 1000])).toBe(false); // not started yet
      // Across the 32-bit wrap: txid 2^32 + 5 is xid 5, before xmax 2^32 + 10.
      expect(seesAll("4294967300:4294967306:", [4])).toBe(true);
      expect(seesAll("4294967300:4294967306:4294967301", [5])).toBe(false);
      expect(seesAll("4294967290:4294967300:", [4294967295])).toBe(true);
    } finally {
      await other.end();
    }
  });

  it("a later change of a key is never overwritten by an earlier one, while the next batch is collected during an apply and Elasticsearch rejects and delays writes", async () => {
    const config = sourceConfig({ schema, tables: "counters" });
    const source = new PostgresSource(config, connectionFactory(config));
    const follower = new ChangeFollower(source, es, await source.plan([]), silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: slot, publication: slot }, pgAdmin);
    await pgAdmin.end();
    await runTestSync({ index, source: config, es });
    // 429s on whole requests and on items: the writes of a batch land after retries and backoff,
    // so a batch applied before the previous one finished would land after it.
    const proxy = await startFaultProxy(stack.esUrl(), {
      requestRejectRate: 0.3,
      itemRejectRate: 0.3,
      seed: 7,
    });
    const proxied = (await connectElasticsearch({ host: proxy.url, requestTimeoutMs: 60_000 })).client;
    const controller = new AbortController();
    const batches: AppliedBatch[] = [];
    const running = new ChangeFollower(source, proxied, await source.plan([]), silentLogger).run({
      indexName: index,
      slotName: slot,
      publication: slot,
      basicRules: new BasicRuleEngine([]),
      sync: { ...DEFAULT_SYNC_OPTIONS, bulkMaxDocs: 2 },
      signal: controller.signal,
      maxDelayMs: 1,
      maxBatchKeys: 3,
      onApplied: (b) => batches.push(b),
    });
    try {
      // Each key changes many times, in transactions spread over time: successive batches re-read
      // different values of the same key.
      for (let round = 0; round < 150; round++) {
        await new Promise((resolve) => setTimeout(resolve, 15));
        const id = 1 + (round % ROWS);
        await admin.query(`UPDATE "${schema}".counters SET n = n + 1 WHERE id = ANY($1::int[])`, [
          [id, 1 + ((id * 7) % ROWS)],
        ]);
      }
      const expected = new Map(
        (await admin.query<{ id: number; n: number }>(`SELECT id, n FROM "${schema}".counters`)).rows.map(
          (r) => [`${stack.pgDatabase()}_${schema}_counters_${r.id}`, r.n],
        ),
      );
      // The event: the slot confirmed every change (PostgreSQL's catalog says so, and the follower
      // confirms a change only after Elasticsearch accepted it). No time bound: a loaded machine
      // only makes the wait longer; the hang guard is for a follower that stopped.
      const target = (await admin.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]
        ?.lsn;
      await waitFor(
        async () =>
          (
            await admin.query<{ done: boolean }>(
              "SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1",
              [slot, target],
            )
          ).rows[0]?.done,
        (done) => done === true,
        "the slot to confirm the last update",
        240_000,
      );
      await es.indices.refresh({ index });
      const result = await es.search<Record<string, unknown>>({ index, size: 100, query: { match_all: {} } });
      const actual = new Map(result.hits.hits.map((h) => [h._id ?? "", h._source?.[`${schema}_counters_n`]]));
      expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
      expect(batches.length).toBeGreaterThan(5);
      expect(proxy.stats.itemsRejected + proxy.stats.requestsRejected).toBeGreaterThan(0);
    } finally {
      controller.abort();
      await running.catch(() => undefined);
      await proxied.close();
      await proxy.close();
    }
  }, 300_000);

  it("a batch of more keys than one re-read query takes (2,500 rows in one transaction) is applied whole", async () => {
    const config = sourceConfig({ schema, tables: "many" });
    const source = new PostgresSource(config, connectionFactory(config));
    const manySlot = `${slot}_many`;
    const manyIndex = `${index}-many`;
    const follower = new ChangeFollower(source, es, await source.plan([]), silentLogger);
    const pgAdmin = await connectionFactory(config).connect();
    await follower.ensureSlot({ slotName: manySlot, publication: manySlot }, pgAdmin);
    await pgAdmin.end();
    await runTestSync({ index: manyIndex, source: config, es });
    const controller = new AbortController();
    const batches: AppliedBatch[] = [];
    const running = follower.run({
      indexName: manyIndex,
      slotName: manySlot,
      publication: manySlot,
      basicRules: new BasicRuleEngine([]),
      sync: DEFAULT_SYNC_OPTIONS,
      signal: controller.signal,
      onApplied: (b) => batches.push(b),
    });
    try {
      await admin.query(`UPDATE "${schema}".many SET n = id * 2`);
      const wrong = async (): Promise<number> => {
        const docs = [...(await allDocuments(es, manyIndex)).values()];
        expect(docs).toHaveLength(2500);
        return docs.filter((d) => d[`${schema}_many_n`] !== Number(d[`${schema}_many_id`]) * 2).length;
      };
      await waitFor(
        () => batches.reduce((n, b) => n + b.indexed, 0),
        (indexed) => indexed >= 2500,
        "2,500 documents indexed",
      );
      expect(batches.reduce((n, b) => n + b.indexed, 0)).toBe(2500);
      expect(await wrong()).toBe(0);
    } finally {
      controller.abort();
      await running.catch(() => undefined);
    }
  }, 60_000);
});
