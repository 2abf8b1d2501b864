/**
 * A connector lock nobody holds any more is released; a live one never is. The service locks a
 * connector (`last_sync_status: in_progress`, conditional write) before it claims a job, as
 * Elastic's does; a process that died between the lock and the claim left the connector locked
 * with no job running, and no process ever ran a job of it again.
 */
import { describe, expect, it } from "vitest";
import { ConnectorService } from "../../src/service/connector-service.js";
import type { JobDocument } from "../../src/service/protocol.js";
import type { ServiceConfig } from "../../src/service/service-config.js";
import { stackConnectorValues } from "../helpers/connectors.js";
import {
  configureConnector,
  connectorDoc,
  createTestConnector,
  jobDoc,
  protocolUnderTest,
  recordingLogger,
  serviceTestStack,
  testServiceConfig,
  until,
} from "../helpers/service-fixtures.js";
import { adminClient } from "../helpers/stack.js";

const RELEASED = "connector locked with no job running: stale lock released";
const servers = serviceTestStack("stalelock");
const { schema } = servers;

describe.each(["index", "api"] as const)("connector locks through the %s protocol", (backend) => {
  const under = protocolUnderTest(backend, servers.es);

  const service = (id: string, worker: string, timings: Partial<ServiceConfig["service"]> = {}) => {
    const logger = recordingLogger();
    const svc = new ConnectorService({
      config: testServiceConfig([id], timings),
      protocol: under.protocol(),
      client: servers.es(),
      logger,
      workerName: worker,
    });
    return { svc, logger };
  };

  /** A connected connector syncing the employee table (registered by a service that then goes away). */
  async function connectedConnector(name: string): Promise<string> {
    const id = await createTestConnector(servers.es(), `${schema.replaceAll("_", "-")}-${backend}-${name}`);
    const { svc } = service(id, "setup");
    await svc.tick();
    await configureConnector(servers.protocol(), id, stackConnectorValues(schema, { tables: "employee" }));
    await svc.tick();
    expect(await connectorDoc(servers.protocol(), id)).toMatchObject({ status: "connected" });
    return id;
  }

  const newJob = async (id: string): Promise<string> => {
    const connector = await servers.protocol().getConnector(id);
    if (connector === undefined) throw new Error(`no connector ${id}`);
    return under.protocol().createJob(connector, "full", "on_demand");
  };

  it("a connector left locked by a process that died before its claim runs its pending job", async () => {
    const id = await connectedConnector("stuck");
    const recovering = service(id, "worker-b", { staleLockTimeout: 1 });
    // What job-claim.ts's lock writes, by a process that then died before it claimed the job.
    await servers.protocol().updateConnector(id, {
      status: "connected",
      error: null,
      last_sync_status: "in_progress",
      last_sync_error: null,
    });
    const jobId = await newJob(id);
    // The first sight of a lock with no job only starts the wait: a live process may be
    // between its lock and its claim.
    await recovering.svc.tick();
    expect(await jobDoc(servers.protocol(), jobId)).toMatchObject({ status: "pending" });
    expect(await connectorDoc(servers.protocol(), id)).toMatchObject({ last_sync_status: "in_progress" });
    // Polling on, the lock is released once stale and the job runs (before the fix: pending forever).
    await until(
      "the pending job to complete",
      async () => {
        await recovering.svc.tick();
        await recovering.svc.idle();
        return (await jobDoc(servers.protocol(), jobId)).status === "completed" ? true : undefined;
      },
      40_000,
    );
    expect(await jobDoc(servers.protocol(), jobId)).toMatchObject({
      status: "completed",
      worker_hostname: "worker-b",
      indexed_document_count: 3,
    });
    expect(await connectorDoc(servers.protocol(), id)).toMatchObject({
      last_sync_status: "completed",
      last_sync_error: null,
    });
    expect(recovering.logger.messages.filter((m) => m === RELEASED)).toHaveLength(1);
  });

  it("a connector locked by a sync running in another service is never taken over", async () => {
    const id = await connectedConnector("live");
    const runner = service(id, "worker-a");
    // Polls with a short stale-lock timeout all the while the other service's sync runs.
    const watcher = service(id, "worker-b", { staleLockTimeout: 1 });
    // The sync waits inside PostgreSQL, on this lock, for as long as the test holds it.
    const blocker = await adminClient();
    let first = "";
    let second = "";
    try {
      await blocker.query(`BEGIN; LOCK TABLE "${schema}".employee IN ACCESS EXCLUSIVE MODE`);
      first = await newJob(id);
      await runner.svc.tick();
      expect(await jobDoc(servers.protocol(), first)).toMatchObject({
        status: "in_progress",
        worker_hostname: "worker-a",
      });
      second = await newJob(id);
      const started = performance.now();
      await until("several stale-lock timeouts of polling", async () => {
        await watcher.svc.tick();
        expect(await connectorDoc(servers.protocol(), id)).toMatchObject({ last_sync_status: "in_progress" });
        expect(await jobDoc(servers.protocol(), second)).toMatchObject({ status: "pending" });
        return performance.now() - started > 5000 ? true : undefined;
      });
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
    }
    await runner.svc.idle();
    expect(await jobDoc(servers.protocol(), first)).toMatchObject({
      status: "completed",
      worker_hostname: "worker-a",
    });
    // The job queued meanwhile runs after the first ended, never beside it.
    await until("the queued job to complete", async () => {
      await watcher.svc.tick();
      await watcher.svc.idle();
      return (await jobDoc(servers.protocol(), second)).status === "completed" ? true : undefined;
    });
    const a: JobDocument = await jobDoc(servers.protocol(), first);
    const b: JobDocument = await jobDoc(servers.protocol(), second);
    expect(Date.parse(b.started_at ?? "") >= Date.parse(a.completed_at ?? "")).toBe(true);
    expect(watcher.logger.messages).not.toContain(RELEASED);
  });
});
