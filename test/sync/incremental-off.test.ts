import type { Client as EsClient } from "@elastic/elasticsearch";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { resolvePostgresConfig } from "../../src/config/index.js";
import { esClient, uniqueName, allDocuments } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";
import { canStartTempCluster, startTempCluster, type TempCluster } from "../helpers/temp-cluster.js";

let cluster: TempCluster | undefined;
let admin: pg.Client | undefined;
let es: EsClient;
const index = uniqueName("search-incremental-off");

beforeAll(async () => {
  es = await esClient();
  if (!canStartTempCluster()) return;
  cluster = await startTempCluster({ track_commit_timestamp: "off" });
  admin = new pg.Client({
    host: "127.0.0.1",
    port: cluster.port,
    user: cluster.user,
    database: cluster.database,
  });
  await admin.connect();
  await admin.query(
    `CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 300) g;`,
  );
}, 60_000);

afterAll(async () => {
  await admin?.end();
  cluster?.stop();
  await es.indices.delete({ index }).catch(() => undefined);
  await es.delete({ index: "pgsearch-state", id: index }).catch(() => undefined);
  await es.close();
});

it("with track_commit_timestamp = off, an incremental sync says so, reads every row, and still leaves the index equal to the database (needs root to start a second cluster)", async (ctx) => {
  if (cluster === undefined || admin === undefined) {
    ctx.skip();
    return;
  }
  const source = resolvePostgresConfig({
    host: "127.0.0.1",
    port: cluster.port,
    username: cluster.user,
    password: cluster.password,
    database: cluster.database,
    schema: "public",
  });
  const first = await runTestSync({ index, source, es, jobType: "incremental" });
  expect(first.status).toBe("completed");
  expect(first.warnings).toEqual([expect.stringMatching(/track_commit_timestamp is off/) as unknown]);
  await admin.query(
    `UPDATE item SET name = 'changed' WHERE id = 7; DELETE FROM item WHERE id = 8; INSERT INTO item VALUES (301, 'new')`,
  );
  const second = await runTestSync({ index, source, es, jobType: "incremental" });
  expect(second.warnings).toEqual([expect.stringMatching(/track_commit_timestamp is off/) as unknown]);
  expect(second.streams[0]?.rowsRead).toBe(300); // every row, as a full sync
  expect(second.bulk.created + second.bulk.updated).toBe(2); // but only the changed ones are sent
  expect(second.deleted).toBe(1);
  const docs = await allDocuments(es, index);
  const rows = await admin.query<{ id: number; name: string }>("SELECT id, name FROM item");
  expect(docs.size).toBe(rows.rowCount);
  for (const row of rows.rows)
    expect(docs.get(`pgsearch_tmp_public_item_${row.id}`)?.public_item_name).toBe(row.name);
});

it("with track_commit_timestamp = off, a resumed sync catches rows of the already-read part changed since the checkpoint by content hash (issue 10.3)", async (ctx) => {
  if (cluster === undefined || admin === undefined) {
    ctx.skip();
    return;
  }
  const source = resolvePostgresConfig({
    host: "127.0.0.1",
    port: cluster.port,
    username: cluster.user,
    password: cluster.password,
    database: cluster.database,
    schema: "public",
  });
  const resumeIndex = `${index}-resume`;
  const small = { batchRows: 20, bulkMaxDocs: 20, bulkConcurrency: 1 };
  // Interrupted once a part of the table was read and acknowledged.
  const controller = new AbortController();
  const interrupted = await runTestSync({
    index: resumeIndex,
    source,
    es,
    sync: small,
    request: {
      signal: controller.signal,
      onProgress: (p) => {
        if ((p.streams[0]?.rowsRead ?? 0) >= 100) controller.abort();
      },
    },
  });
  expect(interrupted.status).toBe("canceled");
  const state = await es.get<{ streams: Record<string, { after: string | null }> }>({
    index: "pgsearch-state",
    id: resumeIndex,
  });
  const after = Number((JSON.parse(state._source?.streams["public.item"]?.after ?? "[0]") as string[])[0]);
  expect(after).toBeGreaterThan(1);
  await admin.query(`UPDATE item SET name = 'changed after the checkpoint' WHERE id IN (1, ${after})`);
  const resumed = await runTestSync({ index: resumeIndex, source, es, sync: small });
  expect(resumed).toMatchObject({ status: "completed", resumed: true });
  expect(resumed.warnings.join("\n")).toMatch(/read again, comparing with the stored documents/);
  const docs = await allDocuments(es, resumeIndex);
  const rows = await admin.query<{ id: number; name: string }>("SELECT id, name FROM item");
  expect(docs.size).toBe(rows.rowCount);
  for (const row of rows.rows)
    expect(docs.get(`pgsearch_tmp_public_item_${row.id}`)?.public_item_name, String(row.id)).toBe(row.name);
  await es.indices.delete({ index: resumeIndex }).catch(() => undefined);
  await es.delete({ index: "pgsearch-state", id: resumeIndex }).catch(() => undefined);
});
