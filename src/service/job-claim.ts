import type { ConnectorProtocol, JobDocument, Versioned } from "./protocol.js";

/** How often a lost conditional write is re-read and retried (Elastic's `with_concurrency_control`). */
const CONFLICT_RETRIES = 3;

/**
 * Takes a pending job the way Elastic's service does (`SyncJobRunner.sync_starts`, then `claim`):
 * the connector is locked first by writing `last_sync_status: in_progress` with
 * if_seq_no/if_primary_term, which only one process can win while no sync of that connector runs.
 * The job is then re-read under the lock (a stale listing may show a job another process already
 * finished) and claimed. `_claim` itself checks nothing in Elasticsearch, so the lock is what
 * keeps two services from running one job. When the claim does not happen, the lock is released.
 * Returns the claimed job, or undefined when it is not this process's to run.
 */
export async function claimJob(
  protocol: ConnectorProtocol,
  listed: Versioned<JobDocument>,
  worker: string,
): Promise<Versioned<JobDocument> | undefined> {
  const connectorId = listed.doc.connector.id;
  const previous = await lockConnector(protocol, connectorId);
  if (previous === undefined) return undefined;
  let claimed: Versioned<JobDocument> | undefined;
  try {
    const job = await protocol.getJob(listed.id);
    if (job !== undefined && (job.doc.status === "pending" || job.doc.status === "suspended")) {
      // Incremental jobs continue from the connector's cursor, as Elastic's claim passes it.
      const cursor = job.doc.job_type === "incremental" ? previous.cursor : null;
      if (await protocol.claimJob(job, worker, cursor))
        claimed = { ...job, doc: { ...job.doc, connector: { ...job.doc.connector, sync_cursor: cursor } } };
    }
  } finally {
    if (claimed === undefined)
      await protocol.updateConnector(connectorId, { last_sync_status: previous.status });
  }
  return claimed;
}

/** The lock: the connector's previous `last_sync_status`, or undefined when not won. */
async function lockConnector(
  protocol: ConnectorProtocol,
  connectorId: string,
): Promise<{ status: JobDocument["status"] | null; cursor: unknown } | undefined> {
  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const connector = await protocol.getConnector(connectorId);
    if (connector === undefined || connector.doc.deleted === true) return undefined;
    if (connector.doc.last_sync_status === "in_progress") return undefined;
    const locked = await protocol.updateConnector(
      connectorId,
      { status: "connected", error: null, last_sync_status: "in_progress", last_sync_error: null },
      connector,
    );
    if (locked)
      return { status: connector.doc.last_sync_status ?? null, cursor: connector.doc.sync_cursor ?? null };
  }
  return undefined;
}
