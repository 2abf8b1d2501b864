import type { ServiceDependencies } from "./service-deps.js";

/** What the connector shows once a stale lock was released (Kibana: the last sync's error). */
export const STALE_LOCK_ERROR =
  "The sync that locked this connector stopped before it started or finished (its service process " +
  "ended); the lock was released.";

/**
 * Releases connector locks nobody holds any more. job-claim.ts locks a connector
 * (`last_sync_status: in_progress`, conditional write) before it claims a job, and the job's end
 * releases it; a process that dies between the lock and the claim, or between the job's end and
 * the connector's update, leaves the connector locked with no job running, and then no process
 * takes a job of it again. Elastic's service locks the same way (`SyncJobRunner.sync_starts`) and
 * has no way out: its clean-up only frees connectors of jobs that were claimed and went silent.
 *
 * A lock is stale when the connector says in_progress and no job of it is in_progress or
 * canceling (a claimed job that went silent is the clean-up's: it fails the job and releases the
 * lock), seen so by this process at every poll for `stale_lock_timeout` seconds: a live process
 * holds the lock without a running job only for the few requests between lock and claim. It is
 * then released with a write conditional on the connector as read before the jobs were looked up,
 * so of several processes only one releases it, and a lock taken again meanwhile is left alone.
 */
export class StaleLocks {
  /**
   * Per connector: when this process first saw it locked with no job running (monotonic ms), and
   * its `last_synced` then (a job that ended since means a new lock, and the wait starts over).
   */
  private readonly since = new Map<string, { at: number; lastSynced: unknown }>();

  constructor(private readonly deps: ServiceDependencies) {}

  /** One observation of the connector; releases its lock when stale for long enough. */
  async check(connectorId: string, signal?: AbortSignal): Promise<void> {
    const { protocol, logger, config } = this.deps;
    const connector = await protocol.getConnector(connectorId, signal);
    const lockedIdle =
      connector !== undefined &&
      connector.doc.deleted !== true &&
      connector.doc.last_sync_status === "in_progress" &&
      (await protocol.activeJobs(connectorId, signal)).length === 0;
    if (!lockedIdle) {
      this.since.delete(connectorId);
      return;
    }
    const first = this.since.get(connectorId);
    const now = performance.now();
    const lastSynced = connector.doc.last_synced ?? null;
    if (first === undefined || first.lastSynced !== lastSynced) {
      this.since.set(connectorId, { at: now, lastSynced });
      return;
    }
    if (now - first.at < config.service.staleLockTimeout * 1000) return;
    this.since.delete(connectorId);
    const released = await protocol.updateConnector(
      connectorId,
      { last_sync_status: "error", last_sync_error: STALE_LOCK_ERROR },
      connector,
    );
    if (released)
      logger.warn(
        { connector_id: connectorId, locked_for_seconds: Math.round((now - first.at) / 1000) },
        "connector locked with no job running: stale lock released",
      );
  }
}
