import type { Client as EsClient } from "@elastic/elasticsearch";
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { dropSchema } from "../helpers/fixtures.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("resilience");
const indexPrefix = uniqueName("search-resilience");
const ROWS = 100_000;
const STORM_ROWS = 20_000;

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".events (id bigint PRIMARY KEY, kind text, payload text, amount numeric(12,2));
    INSERT INTO "${schema}".events
      SELECT g, 'kind' || (g % 17), repeat(md5(g::text), 4), (g % 1000) / 7.0 FROM generate_series(1, ${ROWS}) g;
    ANALYZE "${schema}".events;
    CREATE TABLE "${schema}".storm (id bigint PRIMARY KEY, kind text, payload text);
    INSERT INTO "${schema}".storm SELECT g, 'kind' || (g % 17), md5(g::text) FROM generate_series(1, ${STORM_ROWS}) g;
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${indexPrefix}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

/** Ids and contents of the index must be exactly the table's rows. */
async function expectIndexEqualsTable(index: string, table = "events"): Promise<void> {
  const docs = await allDocuments(es, index);
  const rows = await admin.query<{ id: string; kind: string; payload: string }>(
    `SELECT id::text, kind, payload FROM "${schema}".${table}`,
  );
  expect(docs.size).toBe(rows.rowCount);
  for (const row of rows.rows) {
    const doc = docs.get(`${stack.pgDatabase()}_${schema}_${table}_${row.id}`);
    expect(doc?.[`${schema}_${table}_kind`], row.id).toBe(row.kind);
    expect(doc?.[`${schema}_${table}_payload`], row.id).toBe(row.payload);
  }
}

describe("resilience", () => {
  it(
    "a 429 storm (fault-injecting proxy in front of the real Elasticsearch) loses nothing",
    { timeout: 180_000 },
    async () => {
      const proxy = await startFaultProxy(stack.esUrl(), { requestRejectRate: 0.2, itemRejectRate: 0.3 });
      const proxied = (await connectElasticsearch({ host: proxy.url, requestTimeoutMs: 60_000 })).client;
      const index = `${indexPrefix}-429`;
      let peakQueuedBytes = 0;
      try {
        const result = await runTestSync({
          index,
          source: sourceConfig({ schema, tables: "storm" }),
          es: proxied,
          sync: { bulkMaxDocs: 500 },
          request: {
            onProgress: (p) => (peakQueuedBytes = Math.max(peakQueuedBytes, p.bulk.queuedBytes)),
          },
        });
        // The queue gauge saw the backlog and ends empty.
        expect(peakQueuedBytes).toBeGreaterThan(0);
        expect(result.bulk.queuedBytes).toBe(0);
        expect(proxy.stats.itemsRejected).toBeGreaterThan(STORM_ROWS / 5);
        expect(proxy.stats.requestsRejected).toBeGreaterThan(5);
        expect(result.status).toBe("completed");
        expect(result.bulk.failed).toBe(0);
        expect(result.bulk.created).toBe(STORM_ROWS);
        await expectIndexEqualsTable(index, "storm");
      } finally {
        await proxied.close();
        await proxy.close();
      }
    },
  );

  it(
    "kill -9 in the middle of a sync, then a second run, gives exactly the database's documents",
    { timeout: 180_000 },
    async () => {
      const index = `${indexPrefix}-kill`;
      const dir = await mkdtemp(join(tmpdir(), "pgsearch-kill-"));
      const configPath = join(dir, "connector.yml");
      await writeFile(
        configPath,
        [
          "elasticsearch:",
          `  host: ${stack.esUrl()}`,
          `index_name: ${index}`,
          "configuration:",
          `  host: ${stack.pgHost()}`,
          `  port: ${stack.pgPort()}`,
          `  username: ${stack.pgUser()}`,
          "  password: ${PGPASSWORD}",
          `  database: ${stack.pgDatabase()}`,
          `  schema: ${schema}`,
          "  tables: events",
          "sync:",
          "  batch_rows: 500",
          "  bulk_max_docs: 500",
          "  bulk_concurrency: 1",
        ].join("\n"),
      );
      const cli = (): ReturnType<typeof spawn> =>
        spawn(
          process.execPath,
          ["--import", "tsx", "src/cli/main.ts", "sync", "--config", configPath, "--json"],
          {
            env: process.env,
            stdio: ["ignore", "pipe", "pipe"],
          },
        );

      // First run: kill -9 once part of the table is indexed.
      const first = cli();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Killed once a checkpoint with a position is saved (every 2 s): a fixed delay raced the
        // first save once the sync got faster.
        const saved = await es
          .get<{ streams?: Record<string, { after: string | null }> }>({ index: "pgsearch-state", id: index })
          .catch(() => undefined);
        if (saved?._source?.streams?.[`${schema}.events`]?.after != null) break;
        if (first.exitCode !== null)
          throw new Error("the sync finished before it could be killed; make the table larger");
      }
      first.kill("SIGKILL");
      await new Promise((resolve) => first.once("exit", resolve));
      const partial = (await es.count({ index })).count;
      expect(partial).toBeLessThan(ROWS);
      // The last checkpoint the killed process saved: the key up to which Elasticsearch acknowledged.
      const state = await es.get<{ streams: Record<string, { after: string | null }> }>({
        index: "pgsearch-state",
        id: index,
      });
      const after = Number(
        (JSON.parse(state._source?.streams[`${schema}.events`]?.after ?? "[0]") as string[])[0],
      );
      expect(after).toBeGreaterThan(0);

      // Meanwhile the database changes: the resumed sync must pick that up too.
      await admin.query(`DELETE FROM "${schema}".events WHERE id <= 10`);
      await admin.query(`UPDATE "${schema}".events SET kind = 'changed' WHERE id = ${ROWS}`);
      // Rows of the part already read change too: "completed" must still mean index = table.
      await admin.query(
        `UPDATE "${schema}".events SET kind = 'changed after the checkpoint' WHERE id IN (11, ${after})`,
      );

      const second = cli();
      let output = "";
      second.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => second.once("exit", resolve));
      expect(code).toBe(0);
      const result = JSON.parse(output) as {
        resumed: boolean;
        status: string;
        streams: { rowsRead: number }[];
      };
      expect(result.status).toBe("completed");
      expect(result.resumed).toBe(true);
      // Resumed from the checkpoint: the second run read only the rest of the table.
      expect(result.streams[0]?.rowsRead).toBe(ROWS - after);
      await expectIndexEqualsTable(index);
      const changed = await allDocuments(es, index);
      expect(changed.get(`${stack.pgDatabase()}_${schema}_events_${after}`)?.[`${schema}_events_kind`]).toBe(
        "changed after the checkpoint",
      );
    },
  );
});
