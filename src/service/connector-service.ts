import { setTimeout as sleep } from "node:timers/promises";
import { failStaleJobs } from "./cleanup.js";
import { FollowerSupervisor } from "./follower-supervisor.js";
import { JobRunner } from "./job-runner.js";
import { Registration } from "./registration.js";
import { Scheduler } from "./scheduler.js";
import { StaleLocks } from "./stale-lock.js";
import type { ServiceDependencies } from "./service-deps.js";

export { POSTGRESQL_FEATURES } from "./registration.js";
export { slotNameFor } from "./follower-supervisor.js";
export { quartz } from "./scheduler.js";
export type { ServiceDependencies } from "./service-deps.js";

/**
 * The connector service: manages the connectors of config.yml, schedules jobs from Quartz cron
 * expressions, runs pending jobs, cleans up stale ones and supervises followers. Each role lives
 * in its own module; this class only polls them in order. Everything happens through the
 * connector protocol, so Kibana and the `_connector` APIs see the same documents and statuses as
 * with Elastic's service.
 */
export class ConnectorService {
  private readonly registration: Registration;
  private readonly scheduler: Scheduler;
  private readonly jobs: JobRunner;
  private readonly followers: FollowerSupervisor;
  private readonly staleLocks: StaleLocks;
  private lastCleanup = 0;

  constructor(private readonly deps: ServiceDependencies) {
    this.registration = new Registration(deps);
    this.scheduler = new Scheduler(deps.protocol, deps.logger);
    this.jobs = new JobRunner(deps);
    this.followers = new FollowerSupervisor(deps);
    this.staleLocks = new StaleLocks(deps);
  }

  /** Polls until `signal` aborts; then running jobs stop and are marked suspended. */
  async run(signal: AbortSignal): Promise<void> {
    await this.deps.protocol.prepare(signal);
    this.deps.logger.info(
      { protocol: this.deps.protocol.name, worker: this.jobs.worker },
      `connector service started (protocol: ${this.deps.protocol.name})`,
    );
    while (!signal.aborted) {
      await this.tick(signal).catch((error: unknown) => {
        if (!signal.aborted) this.deps.logger.error({ err: error }, "service loop error; retrying next poll");
      });
      await sleep(this.deps.config.service.idling * 1000, undefined, { signal }).catch(() => undefined);
    }
    await this.jobs.suspendAll();
    await this.followers.stopAll();
  }

  /** One poll: connectors, schedules, stale locks, pending jobs, clean-up. Exposed for tests. */
  async tick(signal?: AbortSignal): Promise<void> {
    const now = new Date();
    for (const managed of this.deps.config.connectors) {
      const connector = await this.registration.manage(managed.connectorId, this.jobs.size > 0, signal);
      if (connector !== undefined) await this.scheduler.schedule(connector, now);
      await this.followers.manage(managed.connectorId, connector);
      await this.staleLocks.check(managed.connectorId, signal);
    }
    this.scheduler.wokeUp(now);
    await this.jobs.startPending(
      this.deps.config.connectors.map((c) => c.connectorId),
      signal,
    );
    if (Date.now() - this.lastCleanup > this.deps.config.service.jobCleanupInterval * 1000) {
      this.lastCleanup = Date.now();
      await this.cleanup(signal);
    }
  }

  /** Waits for every job this service started to finish. */
  async idle(): Promise<void> {
    await this.jobs.idle();
  }

  /** Marks jobs not seen for `idle_job_timeout` seconds, or whose connector is gone, as failed. */
  async cleanup(signal?: AbortSignal): Promise<void> {
    await failStaleJobs(this.deps, (jobId) => this.jobs.isRunning(jobId), signal);
  }

  /** Whether a follower streams changes for the connector (for tests and status). */
  isFollowing(connectorId: string): boolean {
    return this.followers.isFollowing(connectorId);
  }
}
