import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { DocumentBuilder } from "../../src/sync/document.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, sourceConfig, uniqueName } from "../helpers/stack.js";

let admin: pg.Client;
const schema = uniqueName("reads");
const BIG_ROWS = 1_000_000;

beforeAll(async () => {
  admin = await adminClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".small (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}".small SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
    CREATE TABLE "${schema}".big (id int PRIMARY KEY, a text, b text, n numeric, t timestamptz);
    INSERT INTO "${schema}".big
      SELECT g, md5(g::text), repeat('x', 100), g / 3.0, timestamptz '2020-01-01' + g * interval '1 second'
      FROM generate_series(1, ${BIG_ROWS}) g;
    ANALYZE "${schema}".big;
  `);
}, 300_000);

afterAll(async () => {
  await dropSchema(admin, schema);
  await admin.end();
});

async function openSource(table: string) {
  const config = sourceConfig({ schema, tables: table, retry_count: 3 });
  const retries: string[] = [];
  const source = new PostgresSource(config, connectionFactory(config), {
    onRetry: ({ stream }) => retries.push(stream),
  });
  const plan = await source.plan([]);
  const stream = plan.streams[0];
  if (stream === undefined) throw new Error("no stream");
  return { source, plan, stream, retries, config };
}

describe("streaming reads", () => {
  it("a connection dropped mid-read resumes after the last key: no row lost, none repeated", async () => {
    const { source, plan, stream, retries } = await openSource("small");
    const snapshot = await source.openSnapshot();
    const seen: number[] = [];
    let killed = false;
    try {
      // An unusual batch size makes this reader's FETCH recognisable among concurrent tests.
      for await (const batch of source.read(snapshot, stream, plan.server, { batchRows: 997 })) {
        for (const row of batch) seen.push(Number(row.key[0]));
        if (!killed && seen.length >= 5000) {
          // Kill the reader's backend (not the snapshot's coordinator) while it holds an open cursor.
          const killedRows = await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'pgsearch' AND query LIKE 'FETCH FORWARD 997 FROM%' AND pid <> pg_backend_pid()`,
          );
          expect(killedRows.rowCount).toBe(1);
          killed = true;
        }
      }
    } finally {
      await snapshot.close();
    }
    expect(killed).toBe(true);
    expect(retries).toEqual([stream.id]);
    expect(seen.length).toBe(20000);
    expect(new Set(seen).size).toBe(20000);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("the snapshot hides changes committed after the sync started", async () => {
    const { source, plan, stream } = await openSource("small");
    const snapshot = await source.openSnapshot();
    try {
      await admin.query(`INSERT INTO "${schema}".small VALUES (999999, 'late')`);
      let count = 0;
      for await (const batch of source.read(snapshot, stream, plan.server, { batchRows: 5000 }))
        count += batch.length;
      expect(count).toBe(20000);
    } finally {
      await snapshot.close();
      await admin.query(`DELETE FROM "${schema}".small WHERE id = 999999`);
    }
  });

  it("an aborted read stops promptly with a CanceledError", async () => {
    const { source, plan, stream } = await openSource("big");
    const snapshot = await source.openSnapshot();
    const controller = new AbortController();
    const started = Date.now();
    let rows = 0;
    try {
      await expect(
        (async () => {
          for await (const batch of source.read(snapshot, stream, plan.server, {
            batchRows: 2000,
            signal: controller.signal,
          })) {
            rows += batch.length;
            if (rows >= 10000) controller.abort();
          }
        })(),
      ).rejects.toMatchObject({ code: "canceled" });
    } finally {
      await snapshot.close();
    }
    expect(rows).toBeLessThan(20000);
    console.log(`abort observed after ${Date.now() - started} ms`);
  });

  it(
    `reads ${BIG_ROWS} rows with flat memory (heap growth bounded by batches, not by the table)`,
    { timeout: 300_000 },
    async () => {
      const { source, plan, stream, config } = await openSource("big");
      const builder = new DocumentBuilder(stream, config, '"2024-01-01T00:00:00+00:00"');
      const snapshot = await source.openSnapshot();
      const baseline = process.memoryUsage().heapUsed;
      let peak = baseline;
      let rows = 0;
      let bytes = 0;
      try {
        for await (const batch of source.read(snapshot, stream, plan.server, { batchRows: 2000 })) {
          for (const row of batch) bytes += builder.build(row).bytes;
          rows += batch.length;
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        }
      } finally {
        await snapshot.close();
      }
      expect(rows).toBe(BIG_ROWS);
      const growthMb = (peak - baseline) / 2 ** 20;
      console.log(
        `read ${rows} rows, ${(bytes / 2 ** 20).toFixed(0)} MB of documents; heap growth ${growthMb.toFixed(1)} MB`,
      );
      // The documents add up to several hundred MB; holding them would blow far past this bound.
      expect(bytes / 2 ** 20).toBeGreaterThan(300);
      expect(growthMb).toBeLessThan(150);
    },
  );
});
