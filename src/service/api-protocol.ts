import { PgSearchError } from "../errors.js";
import { describeEsError } from "../sink/es-client.js";
import { DEFAULT_PIPELINE } from "./connector-defaults.js";
import { IndexProtocol, PRODUCT_ORIGIN, type NewConnector } from "./index-protocol.js";
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
        { ...PRODUCT_ORIGIN, signal },
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

  /**
   * `PUT _connector/<id>` (Elasticsearch fills the defaults and refuses an index name another
   * connector uses), then `PUT _connector/<id>/_pipeline` with the settings Kibana adds. The
   * service registers the configuration fields when it first sees the connector.
   */
  override async createConnector(id: string, options: NewConnector): Promise<void> {
    if (await this.connectorExists(id))
      throw new PgSearchError(`connector ${id} already exists`, { code: "exists" });
    const path = `/_connector/${encodeURIComponent(id)}`;
    await this.call("PUT", path, {
      index_name: options.indexName,
      name: options.name,
      service_type: options.serviceType,
      is_native: false,
    });
    await this.call("PUT", `${path}/_pipeline`, { pipeline: DEFAULT_PIPELINE });
  }

  override async listConnectors(): Promise<Versioned<ConnectorDocument>[]> {
    const found = await this.call<{ results: ({ id: string } & ConnectorDocument)[] }>(
      "GET",
      "/_connector",
      undefined,
      {
        size: "1000",
      },
    );
    return found.results.map(({ id, ...doc }) => ({ id, doc, seqNo: 0, primaryTerm: 1 }));
  }

  override async listJobs(connectorId?: string): Promise<Versioned<JobDocument>[]> {
    const found = await this.call<{ results: ({ id: string } & JobDocument)[] }>(
      "GET",
      "/_connector/_sync_job",
      undefined,
      { size: "100", ...(connectorId === undefined ? {} : { connector_id: connectorId }) },
    );
    return found.results.map(({ id, ...doc }) => ({ id, doc: doc, seqNo: 0, primaryTerm: 1 }));
  }

  override async cancelJob(id: string): Promise<void> {
    await this.call("PUT", `/_connector/_sync_job/${encodeURIComponent(id)}/_cancel`);
  }

  private async call<T = unknown>(
    method: string,
    path: string,
    body?: Record<string, unknown>,
    querystring?: Record<string, string>,
  ): Promise<T> {
    try {
      return await this.client.transport.request<T>(
        {
          method,
          path,
          ...(body === undefined ? {} : { body }),
          ...(querystring === undefined ? {} : { querystring }),
        },
        PRODUCT_ORIGIN,
      );
    } catch (error) {
      const described = describeEsError(error, `${method} ${path}`);
      throw Object.assign(described, { status: described.status });
    }
  }
}
