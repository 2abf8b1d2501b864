import type { ServiceDependencies } from "./service-deps.js";

const IDLE = "The job has not seen any update for some time.";

/**
 * Marks jobs not seen for `idle_job_timeout` seconds, or whose connector is gone, as failed (as
 * Elastic's clean-up service does), and releases the connector's lock of an idle job.
 * `isRunning` spares this process's own jobs.
 */
export async function failStaleJobs(
  deps: ServiceDependencies,
  isRunning: (jobId: string) => boolean,
  signal?: AbortSignal,
): Promise<void> {
  const { protocol, logger, config } = deps;
  const before = new Date(Date.now() - config.service.idleJobTimeout * 1000).toISOString();
  for (const job of await protocol.staleJobs(before, signal)) {
    if (isRunning(job.id)) continue;
    const orphaned = !(await protocol.connectorExists(job.doc.connector.id));
    const now = new Date().toISOString();
    await protocol.updateJob(job.id, {
      status: "error",
      error: orphaned ? "The connector of this job no longer exists." : IDLE,
      completed_at: now,
      last_seen: now,
    });
    if (!orphaned)
      await protocol.updateConnector(job.doc.connector.id, {
        last_sync_status: "error",
        last_sync_error: IDLE,
      });
    logger.warn(
      { job_id: job.id, connector_id: job.doc.connector.id },
      orphaned ? "orphaned job failed" : "idle job failed",
    );
  }
}
