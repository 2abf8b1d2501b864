import { describeEsError } from "../sink/es-client.js";
import { IndexProtocol } from "./index-protocol.js";
import type {
  ConnectorDocument,
  FilteringRules,
  JobDocument,
  JobStats,
  JobType,
  Versioned,
} from "./protocol.js";

/**
 * The protocol through Elasticsearch's Connector APIs, as Elastic's service uses them by default:
 * check-in, job creation, claim, stats, and the draft rules' validation/activation go through
 * `_connector/...`; reads and terminal job updates stay direct, as they do in Elastic's service.
 */
export class ConnectorApiProtocol extends IndexProtocol {
  override readonly name = "api" as const;

  override async prepare(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.transport.request(
        { method: "GET", path: "/_connector", querystring: { size: "1" } },
        { signal },
      );
    } catch (error) {
      throw describeEsError(error, "the cluster does not answer the Connector APIs");
    }
  }

  override async checkIn(id: string): Promise<void> {
    await this.call("PUT", `/_connector/${encodeURIComponent(id)}/_check_in`);
  }

  override async createJob(
    connector: Versioned<ConnectorDocument>,
    jobType: JobType,
    trigger: JobDocument["trigger_method"],
  ): Promise<string> {
    const result = await this.call<{ id: string }>("POST", "/_connector/_sync_job", {
      id: connector.id,
      job_type: jobType,
      trigger_method: trigger,
    });
    return result.id;
  }

  /**
   * `_claim` overwrites status, worker and timestamps without checking the job's state
   * (`ConnectorSyncJobIndexService.claimConnectorSyncJob`): the caller holds the connector's lock
   * (job-claim.ts), which is what makes the claim exclusive.
   */
  override async claimJob(
    job: Versioned<JobDocument>,
    worker: string,
    syncCursor?: unknown,
  ): Promise<boolean> {
    await this.call("PUT", `/_connector/_sync_job/${encodeURIComponent(job.id)}/_claim`, {
      worker_hostname: worker,
      ...(syncCursor == null ? {} : { sync_cursor: syncCursor }),
    });
    return true;
  }

  override async reportJobStats(id: string, stats: JobStats): Promise<void> {
    await this.call("PUT", `/_connector/_sync_job/${encodeURIComponent(id)}/_stats`, {
      ...stats,
      last_seen: new Date().toISOString(),
    });
  }

  override async setDraftValidation(
    connector: Versioned<ConnectorDocument>,
    validation: FilteringRules["validation"],
  ): Promise<void> {
    const id = encodeURIComponent(connector.id);
    await this.call("PUT", `/_connector/${id}/_filtering/_validation`, { validation });
    if (validation.state === "valid") await this.call("PUT", `/_connector/${id}/_filtering/_activate`);
  }

  private async call<T = unknown>(method: string, path: string, body?: Record<string, unknown>): Promise<T> {
    try {
      return await this.client.transport.request<T>({
        method,
        path,
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      const described = describeEsError(error, `${method} ${path}`);
      throw Object.assign(described, { status: described.status });
    }
  }
}
