import type { Client as EsClient } from "@elastic/elasticsearch";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LockHeldError } from "../../src/errors.js";
import { silentLogger } from "../../src/observability/logger.js";
import { acquireLock } from "../../src/sync/lock.js";
import { STATE_INDEX } from "../../src/sync/state-store.js";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { dropSchema } from "../helpers/fixtures.js";
import { adminClient, esClient, sourceConfig, uniqueName } from "../helpers/stack.js";
import { runTestSync } from "../helpers/sync.js";

let admin: pg.Client;
let es: EsClient;
const schema = uniqueName("lock");
const index = uniqueName("search-lock");

beforeAll(async () => {
  admin = await adminClient();
  es = await esClient();
  await admin.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".items (id int PRIMARY KEY, name text);
    INSERT INTO "${schema}".items SELECT g, 'item ' || g FROM generate_series(1, 10) g;
  `);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await es.indices.delete({ index }).catch(() => undefined);
  await es.delete({ index: STATE_INDEX, id: `lock:index:${index}` }, { ignore: [404] });
  await admin.end();
  await es.close();
});

const sync = () => runTestSync({ index, source: sourceConfig({ schema }), es });

async function plantLock(holder: { host: string; pid: number; heartbeatAgoMs: number }): Promise<void> {
  const at = new Date(Date.now() - holder.heartbeatAgoMs).toISOString();
  await es.index({
    index: STATE_INDEX,
    id: `lock:index:${index}`,
    document: { lock: `index:${index}`, host: holder.host, pid: holder.pid, since: at, heartbeat_at: at },
    refresh: true,
  });
}

describe("one sync per index at a time (issue 10.6)", () => {
  it("a second sync of an index being synced fails at once naming the holder (host, pid, since); the CLI exits 1", async () => {
    const held = await acquireLock(es, `index:${index}`, { what: `index ${index}`, logger: silentLogger });
    try {
      await expect(sync()).rejects.toThrow(LockHeldError);
      await expect(sync()).rejects.toThrow(`index ${index} is in use by ${hostname()}/${process.pid} since `);
      const cli = await runCliAsync("sync", "--config", writeStackConfig({ index, schema }));
      expect(cli.status).toBe(1);
      expect(cli.stderr).toContain(`is in use by ${hostname()}/${process.pid}`);
    } finally {
      await held.release();
    }
    expect((await sync()).status).toBe("completed");
  }, 60_000);

  it("the lock of a process that died on this host, or of a holder silent for 30 s, is taken over", async () => {
    const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid;
    await plantLock({ host: hostname(), pid: dead, heartbeatAgoMs: 0 });
    expect((await sync()).status).toBe("completed");
    await plantLock({ host: "elsewhere", pid: 1, heartbeatAgoMs: 31_000 });
    expect((await sync()).status).toBe("completed");
    // Alive elsewhere and heartbeating: not taken.
    await plantLock({ host: "elsewhere", pid: 1, heartbeatAgoMs: 1000 });
    await expect(sync()).rejects.toThrow("is in use by elsewhere/1");
    await es.delete({ index: STATE_INDEX, id: `lock:index:${index}` });
  }, 60_000);
});
