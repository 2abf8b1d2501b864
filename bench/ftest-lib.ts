/**
 * The functional test: generate a dataset, full sync, then insert / update / delete a known set of
 * rows, sync again, and check that the index equals the database document by document (ids and
 * every field), not just by count.
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { DEFAULT_SYNC_OPTIONS, type PostgresConfig } from "../src/config/index.js";
import { silentLogger } from "../src/observability/logger.js";
import { connectionFactory } from "../src/source/connection.js";
import { PostgresSource } from "../src/source/postgres-source.js";
import { prepareRules } from "../src/sync/prepare.js";
import { ElasticsearchStateStore } from "../src/sync/state-store.js";
import { SyncEngine, type SyncResult } from "../src/sync/sync-engine.js";
import type { Dataset } from "./datasets.js";

export interface FtestReport {
  dataset: string;
  checks: { name: string; ok: boolean; detail: string }[];
  passed: boolean;
  firstSync: SyncResult;
  secondSync: SyncResult;
}

const CHANGED = 10;

export async function runFunctionalTest(deps: {
  data: Dataset;
  admin: pg.Client;
  es: EsClient;
  config: PostgresConfig;
  index: string;
}): Promise<FtestReport> {
  const { data, admin, es, config, index } = deps;
  await es.indices.delete({ index, ignore_unavailable: true });
  await es.delete({ index: "pgsearch-state", id: index }, { ignore: [404] }).catch(() => undefined);
  await data.load(admin);

  const source = new PostgresSource(config, connectionFactory(config));
  const engine = new SyncEngine({
    source,
    client: es,
    state: new ElasticsearchStateStore(es),
    logger: silentLogger,
  });
  const rules = await prepareRules({ basic: [], advanced: [] });
  const sync = (): Promise<SyncResult> =>
    engine.run({
      indexName: index,
      jobType: "full",
      advancedRules: [],
      basicRules: rules.basic,
      options: DEFAULT_SYNC_OPTIONS,
    });

  const checks: FtestReport["checks"] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail });
  };

  const firstSync = await sync();
  const total = data.tables.reduce((n, t) => n + t.rows, 0);
  check("first sync completed", firstSync.status === "completed", firstSync.error?.message ?? "");
  check(
    "first sync indexed every row",
    firstSync.bulk.created === total,
    `${firstSync.bulk.created} of ${total}`,
  );

  for (const table of data.tables) {
    const t = `${data.schema}.${table.name}`;
    await admin.query(`DELETE FROM ${t} WHERE id <= ${CHANGED}`);
    await admin.query(
      `UPDATE ${t} SET name = 'updated ' || id WHERE id > ${CHANGED} AND id <= ${2 * CHANGED}`,
    );
    await admin.query(
      `INSERT INTO ${t} SELECT id + ${table.rows}, 'inserted ' || id, 1, 'new' FROM ${t} WHERE id <= ${3 * CHANGED} AND id > ${2 * CHANGED}`,
    );
  }
  const secondSync = await sync();
  const n = data.tables.length;
  check("second sync completed", secondSync.status === "completed", secondSync.error?.message ?? "");
  check(
    "deleted rows were deleted",
    secondSync.deleted === CHANGED * n,
    `${secondSync.deleted} deleted, expected ${CHANGED * n}`,
  );
  check(
    "only changed rows were sent",
    secondSync.bulk.created === CHANGED * n && secondSync.bulk.updated === CHANGED * n,
    `${secondSync.bulk.created} created, ${secondSync.bulk.updated} updated`,
  );

  // Document by document: every row has a document with the same fields, and nothing else is indexed.
  await es.indices.refresh({ index });
  let compared = 0;
  const mismatches: string[] = [];
  for (const table of data.tables) {
    const t = `${data.schema}.${table.name}`;
    const prefix = `${data.schema}_${table.name}_`;
    let lastId = 0;
    for (;;) {
      const rows = await admin.query<{ id: number; doc: Record<string, unknown> }>(
        `SELECT id, row_to_json(x) AS doc FROM ${t} x WHERE id > $1 ORDER BY id LIMIT 200`,
        [lastId],
      );
      if (rows.rows.length === 0) break;
      const ids = rows.rows.map((r) => `${config.database}_${data.schema}_${table.name}_${r.id}`);
      const got = await es.mget<Record<string, unknown>>({ index, ids });
      rows.rows.forEach((row, i) => {
        const doc = got.docs[i];
        const source = doc !== undefined && "found" in doc && doc.found ? doc._source : undefined;
        compared++;
        if (source === undefined) {
          mismatches.push(`${ids[i] ?? ""}: missing`);
          return;
        }
        for (const [column, value] of Object.entries(row.doc)) {
          if (JSON.stringify(source[`${prefix}${column}`]) !== JSON.stringify(value)) {
            mismatches.push(`${ids[i] ?? ""}: ${column} differs`);
          }
        }
      });
      lastId = rows.rows[rows.rows.length - 1]?.id ?? lastId;
    }
  }
  const indexCount = (await es.count({ index })).count;
  const rowCount = total + 0; // CHANGED deleted and CHANGED inserted per table: the total is unchanged
  check(
    "every row's document has the row's values",
    mismatches.length === 0,
    mismatches.slice(0, 5).join("; "),
  );
  check(
    "the index holds exactly the rows",
    indexCount === compared && compared === rowCount,
    `${indexCount} docs, ${compared} rows`,
  );
  return { dataset: data.name, checks, passed: checks.every((c) => c.ok), firstSync, secondSync };
}
