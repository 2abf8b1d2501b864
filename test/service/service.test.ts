import type { Client as EsClient } from "@elastic/elasticsearch";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/logger.js";
import { ConnectorService, slotNameFor } from "../../src/service/connector-service.js";
import { type IndexProtocol, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument, ConnectorProtocol, JobDocument } from "../../src/service/protocol.js";
import { claimJob } from "../../src/service/job-claim.js";
import { stackConnectorValues } from "../helpers/connectors.js";
import {
  configureConnector,
  connectorDoc,
  createTestConnector,
  jobDoc,
  protocolUnderTest,
  serviceTestStack,
  testServiceConfig,
  until,
} from "../helpers/service-fixtures.js";
import { stack } from "../helpers/stack.js";

// The test Elasticsearch has no _connector APIs, so these flows run through the direct-index
// protocol on the real cluster: the same documents Kibana reads.
const servers = serviceTestStack("service");
const { schema } = servers;
let admin: pg.Client;
let es: EsClient;
let protocol: IndexProtocol;
const BIG_ROWS = 150_000;

/** The protocol the service under test uses (the tests themselves read and write directly, as Kibana). */
let serviceProtocol: ConnectorProtocol;

function service(connectorIds: string[], worker = "test-worker"): ConnectorService {
  return new ConnectorService({
    config: testServiceConfig(connectorIds),
    protocol: serviceProtocol,
    client: es,
    logger: silentLogger,
    workerName: worker,
  });
}

const createConnector = (indexName: string, extra: Partial<ConnectorDocument> = {}): Promise<string> =>
  createTestConnector(es, indexName, extra);
const configure = (id: string, values: Record<string, unknown>): Promise<void> =>
  configureConnector(protocol, id, values);

const pgValues = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  stackConnectorValues(schema, overrides);

/** Kibana's scheduling object: every type present (the parser requires all three), only full enabled. */
function fullSchedule(interval: string): NonNullable<ConnectorDocument["scheduling"]> {
  return {
    full: { enabled: true, interval },
    incremental: { enabled: false, interval: "0 0 0 * * ?" },
    access_control: { enabled: false, interval: "0 0 0 * * ?" },
  };
}

const connector = (id: string): Promise<ConnectorDocument> => connectorDoc(protocol, id);

async function versioned(id: string) {
  const found = await protocol.getConnector(id);
  if (found === undefined) throw new Error(`no connector ${id}`);
  return found;
}

const job = (id: string): Promise<JobDocument> => jobDoc(protocol, id);

async function jobCount(connectorId: string): Promise<number> {
  await es.indices.refresh({ index: ".elastic-connectors-sync-jobs*", ignore_unavailable: true });
  const result = await es.count({
    index: ".elastic-connectors-sync-jobs*",
    query: { term: { "connector.id": connectorId } },
  });
  return result.count;
}

beforeAll(async () => {
  admin = servers.admin();
  es = servers.es();
  protocol = servers.protocol();
  await admin.query(`
    CREATE TABLE "${schema}".big (id int PRIMARY KEY, v text);
    INSERT INTO "${schema}".big SELECT g, md5(g::text) FROM generate_series(1, ${BIG_ROWS}) g;
  `);
}, 120_000);

afterAll(async () => {
  // Never leave a replication slot behind.
  await admin.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'pgsearch_conn%' AND NOT active",
  );
  for (const row of (
    await admin.query<{ name: string }>(
      "SELECT pubname AS name FROM pg_publication WHERE pubname LIKE 'pgsearch_conn%'",
    )
  ).rows) {
    await admin.query(`DROP PUBLICATION "${row.name}"`);
  }
});

// Both backends run every flow: direct system-index access on the real cluster, and the Connector
// APIs through an emulator (the test cluster has no ent-search module) that stores its state in
// the same real indices; either way every system-index document is checked against
// Elasticsearch's parser rules (protocolUnderTest).
describe.each(["index", "api"] as const)("connector service through the %s protocol", (backend) => {
  const under = protocolUnderTest(backend, () => es);
  const indexName = (suffix: string): string => `${schema.replaceAll("_", "-")}-${backend}-${suffix}`;

  beforeAll(() => {
    serviceProtocol = under.protocol();
  });

  afterAll(() => {
    if (backend === "api") {
      // The flows really went through the Connector API endpoints.
      for (const endpoint of ["/_check_in", "/_claim", "/_stats"]) {
        expect(
          under.emulator()?.calls.some((call) => call.endsWith(endpoint)),
          endpoint,
        ).toBe(true);
      }
    }
  });

  it("new connector → needs_configuration with the reference's fields → configured → connected", async () => {
    const id = await createConnector(indexName("lifecycle"));
    const svc = service([id]);
    await svc.tick();
    let doc = await connector(id);
    expect(doc.status).toBe("needs_configuration");
    const fields = Object.entries(doc.configuration ?? {}) as [string, { order: number }][];
    // Kibana orders the form by each field's "order".
    expect(
      fields
        .sort((a, b) => a[1].order - b[1].order)
        .map(([key]) => key)
        .slice(0, 11),
    ).toEqual([
      "host",
      "port",
      "username",
      "password",
      "database",
      "schema",
      "tables",
      "fetch_size",
      "retry_count",
      "ssl_enabled",
      "ssl_ca",
    ]);
    expect(doc.features).toMatchObject({
      sync_rules: { advanced: { enabled: true }, basic: { enabled: true } },
    });
    await configure(id, pgValues());
    await svc.tick();
    doc = await connector(id);
    expect(doc).toMatchObject({ status: "connected", error: null });
    expect(typeof doc.last_seen).toBe("string");
  });

  it("a wrong password → error with a readable message (no password) → fixed → connected", async () => {
    const id = await createConnector(indexName("password"));
    const svc = service([id]);
    await svc.tick();
    await configure(id, pgValues({ password: "Not-The-Password-77" }));
    await svc.tick();
    let doc = await connector(id);
    expect(doc.status).toBe("error");
    expect(doc.error).toMatch(/check username and password/);
    expect(doc.error).not.toContain("Not-The-Password-77");
    await configure(id, pgValues());
    await svc.tick();
    doc = await connector(id);
    expect(doc).toMatchObject({ status: "connected", error: null });
  });

  it("an on-demand job runs end to end and reports counts", async () => {
    const index = indexName("ondemand");
    const id = await createConnector(index);
    const svc = service([id]);
    await svc.tick();
    await configure(id, pgValues({ tables: "employee, customer" }));
    await svc.tick();
    const connectorDoc = await protocol.getConnector(id);
    if (connectorDoc === undefined) throw new Error("missing");
    const jobId = await protocol.createJob(connectorDoc, "full", "on_demand");
    await svc.tick();
    await svc.idle();
    expect(await job(jobId)).toMatchObject({
      status: "completed",
      indexed_document_count: 6,
      deleted_document_count: 0,
      total_document_count: 6,
      worker_hostname: "test-worker",
      error: null,
    });
    expect(await connector(id)).toMatchObject({
      last_sync_status: "completed",
      last_indexed_document_count: 6,
    });
    const hits = await es.search({ index, query: { match: { [`${schema}_employee_name`]: "alex" } } });
    expect(hits.hits.hits).toHaveLength(1);
  });

  it("a scheduled job fires once for a due time, even with two service processes", async () => {
    const id = await createConnector(indexName("scheduled"));
    const first = service([id], "worker-a");
    const second = service([id], "worker-b");
    await first.tick();
    await configure(id, pgValues({ tables: "employee" }));
    // One due time only (a given second of a given day), two seconds from now: however slow the
    // machine, the two services can only disagree about whether it is due, never about which.
    const due = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
    const interval = `${due.getUTCSeconds()} ${due.getUTCMinutes()} ${due.getUTCHours()} * * ?`;
    await protocol.updateConnector(id, { scheduling: { ...fullSchedule(interval) } });
    await until("the due time", () => Promise.resolve(Date.now() > due.getTime() ? true : undefined));
    // Both see the due time at once; only one may create the job.
    await Promise.all([first.tick(), second.tick()]);
    await Promise.all([first.tick(), second.tick()]);
    await Promise.all([first.idle(), second.idle()]);
    await es.indices.refresh({ index: JOBS_INDEX });
    const jobs = await es.search<JobDocument>({
      index: JOBS_INDEX,
      query: { term: { "connector.id": id } },
      size: 10,
    });
    expect(jobs.hits.hits).toHaveLength(1);
    expect(jobs.hits.hits[0]?._source).toMatchObject({ trigger_method: "scheduled", job_type: "full" });
    expect((await connector(id)).last_sync_scheduled_at).toBe(due.toISOString());
  });

  it("a schedule does not catch up after downtime: the service schedules from now", async () => {
    const id = await createConnector(indexName("nocatchup"));
    const warmup = service([id]);
    await warmup.tick();
    await configure(id, pgValues({ tables: "employee" }));
    // Down for an hour of a once-a-minute schedule: 60 missed due times.
    await protocol.updateConnector(id, {
      scheduling: fullSchedule("0 * * * * ?"),
      last_sync_scheduled_at: new Date(Date.now() - 3600_000).toISOString(),
    });
    const started = Date.now();
    const svc = service([id]);
    for (let poll = 0; poll < 4; poll++) await svc.tick();
    await svc.idle();
    // Only minute boundaries passed while this service ran may have produced a job.
    const boundaries = Math.floor(Date.now() / 60_000) - Math.floor(started / 60_000);
    expect(await jobCount(id)).toBe(boundaries);
  });

  it("a stale pending-job listing cannot run a job twice: the connector lock, then the job re-read", async () => {
    const id = await createConnector(indexName("claim"));
    const svc = service([id], "worker-a");
    await svc.tick();
    await configure(id, pgValues({ tables: "employee" }));
    await svc.tick();
    const jobId = await serviceProtocol.createJob(await versioned(id), "full", "on_demand");
    // Another service listed the job while it was pending...
    const [stale] = (await serviceProtocol.pendingJobs([id])).filter((j) => j.id === jobId);
    if (stale === undefined) throw new Error("job not listed");
    // ...then this one ran it to the end.
    await svc.tick();
    await svc.idle();
    expect(await job(jobId)).toMatchObject({ status: "completed", worker_hostname: "worker-a" });
    // The other service's claim, from its stale listing, must not take the job again: Elasticsearch's
    // _claim would overwrite a completed job without complaint.
    expect(await claimJob(serviceProtocol, stale, "worker-b")).toBeUndefined();
    expect(await job(jobId)).toMatchObject({ status: "completed", worker_hostname: "worker-a" });
    // The lock it took to look was released, leaving the connector as it was.
    expect(await connector(id)).toMatchObject({ last_sync_status: "completed" });
    // While a sync holds the lock, no other service takes a job of that connector.
    await protocol.updateConnector(id, { last_sync_status: "in_progress" });
    const second = await serviceProtocol.createJob(await versioned(id), "full", "on_demand");
    const [pending] = (await serviceProtocol.pendingJobs([id])).filter((j) => j.id === second);
    if (pending === undefined) throw new Error("job not listed");
    expect(await claimJob(serviceProtocol, pending, "worker-b")).toBeUndefined();
    expect(await job(second)).toMatchObject({ status: "pending" });
    await protocol.updateJob(second, { status: "canceled" });
    await protocol.updateConnector(id, { last_sync_status: "canceled" });
  });

  it("cancel mid-sync: the job ends canceled before its end, and the stale documents a full sync would delete stay", async () => {
    const index = indexName("cancel");
    const id = await createConnector(index);
    const svc = service([id]);
    await svc.tick();
    await configure(id, pgValues({ tables: "big" }));
    await svc.tick();
    // Documents of rows that no longer exist: a completed full sync deletes them, a canceled one must not.
    for (const stale of ["stale-1", "stale-2", "stale-3"])
      await es.index({ index, id: stale, document: { note: "row deleted since the last sync" } });
    await es.indices.refresh({ index });
    const jobId = await protocol.createJob(await versioned(id), "full", "on_demand");
    await svc.tick();
    await until("documents indexed", async () =>
      (await es.count({ index }).catch(() => ({ count: 0 }))).count > 5000 ? true : undefined,
    );
    await protocol.updateJob(jobId, {
      status: "canceling",
      cancelation_requested_at: new Date().toISOString(),
    });
    await svc.idle();
    const ended = await job(jobId);
    expect(ended).toMatchObject({ status: "canceled", deleted_document_count: 0 });
    expect(ended.indexed_document_count).toBeLessThan(BIG_ROWS);
    expect(await connector(id)).toMatchObject({ last_sync_status: "canceled" });
    await es.indices.refresh({ index });
    const stale = await es.mget({ index, ids: ["stale-1", "stale-2", "stale-3"] });
    expect(stale.docs.map((d) => ("found" in d ? d.found : false))).toEqual([true, true, true]);
  });

  it("service stop (SIGTERM) → suspended → restart → completed from the checkpoint, nothing lost", async () => {
    const index = indexName("suspend");
    const id = await createConnector(index);
    const first = service([id], "worker-a");
    await first.tick();
    await configure(id, pgValues({ tables: "big" }));
    const controller = new AbortController();
    const running = first.run(controller.signal);
    const jobId = await protocol.createJob(await versioned(id), "full", "on_demand");
    // Stop as soon as a checkpoint part-way through the table is saved.
    await until(
      "a checkpoint",
      async () => {
        const state = await es.get<{ streams?: Record<string, { after: string | null; done: boolean }> }>(
          { index: "pgsearch-state", id: index },
          { ignore: [404] },
        );
        const stream = state._source?.streams?.[`${schema}.big`];
        return stream !== undefined && stream.after !== null && !stream.done ? true : undefined;
      },
      60_000,
    );
    controller.abort();
    await running;
    const suspended = await job(jobId);
    expect({ status: suspended.status, error: suspended.error }).toEqual({
      status: "suspended",
      error: null,
    });

    // The checkpoint saved when the job stopped: the last key Elasticsearch acknowledged.
    const state = await es.get<{ streams: Record<string, { after: string | null }> }>({
      index: "pgsearch-state",
      id: index,
    });
    const after = Number(
      (JSON.parse(state._source?.streams[`${schema}.big`]?.after ?? "[0]") as string[])[0],
    );
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThan(BIG_ROWS);
    const second = service([id], "worker-b");
    await second.tick();
    await second.idle();
    const resumed = await job(jobId);
    expect(resumed).toMatchObject({
      status: "completed",
      worker_hostname: "worker-b",
      total_document_count: BIG_ROWS,
    });
    const tables = (resumed.metadata as { pgsearch: { tables: { rowsRead: number }[] } }).pgsearch.tables;
    // Resumed from the checkpoint, not from zero: exactly the rows after the acknowledged key.
    expect(tables[0]?.rowsRead).toBe(BIG_ROWS - after);
    await es.indices.refresh({ index });
    expect((await es.count({ index })).count).toBe(BIG_ROWS);
  }, 120_000);

  it("an idle job (no update for too long) is marked failed by the clean-up", async () => {
    const id = await createConnector(indexName("idle"));
    const old = new Date(Date.now() - 3600_000).toISOString();
    const created = await es.index({
      index: JOBS_INDEX,
      // A job as Elasticsearch writes it (every field its parser requires), last seen an hour ago.
      document: {
        connector: { id, configuration: {}, filtering: null, index_name: null, pipeline: null },
        job_type: "full",
        trigger_method: "on_demand",
        status: "in_progress",
        created_at: old,
        last_seen: old,
        indexed_document_count: 0,
        indexed_document_volume: 0,
        deleted_document_count: 0,
        total_document_count: 0,
        metadata: {},
      },
      refresh: true,
    });
    await service([id]).cleanup();
    expect(await job(created._id)).toMatchObject({
      status: "error",
      error: "The job has not seen any update for some time.",
    });
  });

  it("follow_changes: slot, initial full sync, then changes stream in; deleting the connector drops the slot", async () => {
    const index = indexName("follow");
    const id = await createConnector(index);
    const svc = service([id]);
    await svc.tick();
    await configure(id, pgValues({ tables: "employee", follow_changes: true }));
    // Connected; the follow session creates the slot and queues the initial full sync as a job,
    // which the service runs; once it completed, the session streams.
    await until(
      "the follower to stream",
      async () => {
        await svc.tick();
        return svc.isFollowing(id) ? true : undefined;
      },
      60_000,
    );
    expect(await jobCount(id)).toBe(1);
    const slot = slotNameFor(id);
    expect(
      (await admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot])).rowCount,
    ).toBe(1);
    try {
      await admin.query(`INSERT INTO "${schema}".employee VALUES (77, 'Streamed', 40)`);
      await until("the streamed row", async () => {
        const found = await es.get(
          { index, id: `${stack.pgDatabase()}_${schema}_employee_77` },
          { ignore: [404] },
        );
        return found.found ? true : undefined;
      });
      // The stream breaks (walsender killed): the service retries with backoff and resumes from
      // the slot, without a new full sync; a delete made while it was down still arrives.
      const jobsBefore = await jobCount(id);
      await admin.query(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1",
        [slot],
      );
      await until("the follower to notice", () => Promise.resolve(svc.isFollowing(id) ? undefined : true));
      await admin.query(`DELETE FROM "${schema}".employee WHERE emp_id = 77`);
      const resumedAfter = Date.now();
      await until(
        "the follower to resume",
        async () => {
          await svc.tick();
          return svc.isFollowing(id) ? true : undefined;
        },
        20_000,
      );
      console.log(`follower resumed ${String(Date.now() - resumedAfter)} ms after the stream broke`);
      await until("the delete made while down", async () => {
        const found = await es.get(
          { index, id: `${stack.pgDatabase()}_${schema}_employee_77` },
          { ignore: [404] },
        );
        return found.found ? undefined : true;
      });
      expect(await jobCount(id)).toBe(jobsBefore);
    } finally {
      await admin.query(`DELETE FROM "${schema}".employee WHERE emp_id = 77`);
    }
    // DELETE _connector/<id> marks the document deleted.
    await protocol.updateConnector(id, { deleted: true });
    await svc.tick();
    expect(svc.isFollowing(id)).toBe(false);
    expect(
      (await admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot])).rowCount,
    ).toBe(0);
  }, 60_000);
});
