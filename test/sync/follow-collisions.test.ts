import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SYNC_OPTIONS } from "../../src/config/index.js";
import { silentLogger, type Logger } from "../../src/observability/logger.js";
import { BasicRuleEngine } from "../../src/rules/basic.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { ChangeFollower, dropSlot } from "../../src/sync/follow.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, allDocuments, esClient, sourceConfig, stack, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";
import { waitFor } from "../helpers/wait.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("fcollide");
const slot = uniqueName("pgsearch_fcollide");
const ruleSlot = uniqueName("pgsearch_fcrule");
const index = uniqueName("search-fcollide");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  // item 'tag_1' and item_tag 1 print the same compat id; so do pairs ('x_y','z') and ('x','y_z').
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".item (id text PRIMARY KEY, v int);
    INSERT INTO "${schema}".item VALUES ('tag_1', 1), ('plain', 2);
    CREATE TABLE "${schema}".item_tag (id int PRIMARY KEY, v int);
    INSERT INTO "${schema}".item_tag VALUES (5, 50);
    CREATE TABLE "${schema}".pairs (a text, b text, v int, PRIMARY KEY (a, b));
    INSERT INTO "${schema}".pairs VALUES ('p', 'q', 1);
    CREATE TABLE "${schema}".people (id int PRIMARY KEY, team text, nick text);
    INSERT INTO "${schema}".people VALUES (1, 'red', 'a');
  `);
});

afterAll(async () => {
  await dropSlot(admin, slot, slot).catch(() => undefined);
  await dropSlot(admin, ruleSlot, ruleSlot).catch(() => undefined);
  await dropSchema(admin, schema);
  await es.indices.delete({ index: `${index}*` }).catch(() => undefined);
  await admin.end();
  await es.close();
});

/** A logger keeping the warnings, as a user reads them in the log. */
function recordingLogger(warnings: string[]): Logger {
  return {
    ...silentLogger,
    warn: (_obj, msg) => warnings.push(msg ?? ""),
    child: () => recordingLogger(warnings),
  };
}

async function until(probe: () => Promise<boolean>): Promise<void> {
  await waitFor(probe, (done) => done, "the follower to apply the change");
}

async function follow(
  slotName: string,
  indexName: string,
  advanced: { tables: string[]; query: string; id_columns: string[] }[],
  warnings: string[],
): Promise<{ stop: () => Promise<void> }> {
  const config = sourceConfig({ schema, tables: advanced.length > 0 ? "*" : "item, item_tag, pairs" });
  const source = new PostgresSource(config, connectionFactory(config));
  const plan = await source.plan(
    advanced.map((rule, i) => ({
      index: i,
      tables: rule.tables,
      query: rule.query,
      idColumns: rule.id_columns,
    })),
  );
  const follower = new ChangeFollower(source, es, plan, recordingLogger(warnings));
  const pgAdmin = await connectionFactory(config).connect();
  await follower.ensureSlot({ slotName, publication: slotName }, pgAdmin);
  await pgAdmin.end();
  expect((await runTestSync({ index: indexName, source: config, es, advanced })).status).toBe("completed");
  const controller = new AbortController();
  const running = follower.run({
    indexName,
    slotName,
    publication: slotName,
    basicRules: new BasicRuleEngine([]),
    sync: DEFAULT_SYNC_OPTIONS,
    signal: controller.signal,
  });
  return {
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

const id = (rest: string): string => `${stack.pgDatabase()}_${schema}_${rest}`;

describe("follow mode: a row whose id another row's document holds is reported, and never overwrites or deletes it", () => {
  it("across tables (item 'tag_1' / item_tag 1) and within composite keys (('x','y_z') / ('x_y','z'))", async () => {
    const warnings: string[] = [];
    const follower = await follow(slot, index, [], warnings);
    const docs = async (): Promise<Map<string, Record<string, unknown>>> => allDocuments(es, index);
    try {
      // A later marker row proves the changes before it were applied (batches apply in order).
      const applied = async (marker: number): Promise<void> => {
        await admin.query(`INSERT INTO "${schema}".item_tag VALUES (${marker}, 0)`);
        await until(async () => (await docs()).has(id(`item_tag_${marker}`)));
      };
      await admin.query(`INSERT INTO "${schema}".item_tag VALUES (1, 10)`);
      await admin.query(`INSERT INTO "${schema}".pairs VALUES ('x_y', 'z', 1)`);
      await admin.query(`INSERT INTO "${schema}".pairs VALUES ('x', 'y_z', 2)`);
      await applied(100);
      expect(warnings).toContain(
        `collision: ${schema}.item row with key ["tag_1"] and ${schema}.item_tag row with key ["1"] both become document ${id("item_tag_1")}; the second is not indexed`,
      );
      expect(warnings).toContain(
        `collision: ${schema}.pairs: rows with keys ["x_y","z"] and ["x","y_z"] both become document ${id("pairs_x_y_z")}; the second is not indexed`,
      );
      // The second row's update and delete leave the first row's document as it was.
      await admin.query(`UPDATE "${schema}".item_tag SET v = 11 WHERE id = 1`);
      await admin.query(`DELETE FROM "${schema}".pairs WHERE a = 'x'`);
      await applied(101);
      const now = await docs();
      expect(now.get(id("item_tag_1"))).toMatchObject({ table: "item", [`${schema}_item_v`]: 1 });
      expect(now.get(id("pairs_x_y_z"))).toMatchObject({ [`${schema}_pairs_v`]: 1 });
      // The first row gone, the row that waited for its id gets the document, as it is now.
      await admin.query(`DELETE FROM "${schema}".item WHERE id = 'tag_1'`);
      await until(async () => (await docs()).get(id("item_tag_1"))?.[`${schema}_item_tag_v`] === 11);
      expect((await docs()).get(id("item_tag_1"))).toMatchObject({ table: "item_tag" });
    } finally {
      await follower.stop();
    }
  }, 90_000);

  it("an advanced rule's id_columns shared by two rows: the new row is reported, the first keeps the document", async () => {
    const warnings: string[] = [];
    const ruleIndex = `${index}-rule`;
    const rule = {
      tables: ["people"],
      query: `SELECT id, team, nick FROM "${schema}".people`,
      id_columns: ["team"],
    };
    const follower = await follow(ruleSlot, ruleIndex, [rule], warnings);
    const teamDoc = async (): Promise<Record<string, unknown> | undefined> =>
      (await allDocuments(es, ruleIndex)).get(id("people_red"));
    try {
      expect(await teamDoc()).toMatchObject({ [`${schema}_people_nick`]: "a" });
      await admin.query(`INSERT INTO "${schema}".people VALUES (2, 'red', 'b'), (3, 'blue', 'c')`);
      await until(async () => (await allDocuments(es, ruleIndex)).has(id("people_blue")));
      expect(warnings).toContain(
        `collision: advanced[0]: rows with keys ["red"] and ["red"] both become document ${id("people_red")}; the second is not indexed`,
      );
      expect(await teamDoc()).toMatchObject({ [`${schema}_people_nick`]: "a" });
    } finally {
      await follower.stop();
    }
  }, 90_000);
});
