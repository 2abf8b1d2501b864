import type { Client } from "@elastic/elasticsearch";
import { defaultConnectorConfiguration } from "../config/connector-fields.js";
import { PgSearchError } from "../errors.js";
import { newConnectorDocument } from "./connector-defaults.js";
import { HIDDEN_SMALL_INDEX, ensureIndex } from "../sink/ensure-index.js";
import { describeEsError } from "../sink/es-client.js";
import type {
  ConnectorDocument,
  ConnectorProtocol,
  FilteringRules,
  JobDocument,
  JobStats,
  JobType,
  Versioned,
} from "./protocol.js";

export const CONNECTORS_INDEX = ".elastic-connectors";
/**
 * Sent with every request on the connector indices and APIs, as Elastic's service and CLI do:
 * Elasticsearch lets the `connectors` product origin use these system indices.
 */
export const PRODUCT_ORIGIN = { headers: { "x-elastic-product-origin": "connectors" } };
export const JOBS_INDEX = ".elastic-connectors-sync-jobs";

/**
 * The protocol through direct reads and writes of the system indices (what Elastic's service did
 * before the Connector APIs, and still does for most writes). Used where the cluster has no
 * `_connector` APIs. The indices are created when missing; on a real cluster Elasticsearch's own
 * templates create them first.
 */
export class IndexProtocol implements ConnectorProtocol {
  readonly name: "index" | "api" = "index";
  constructor(protected readonly client: Client) {}

  async prepare(signal?: AbortSignal): Promise<void> {
    // A child client, so that the index creation carries the product origin too.
    const client = this.client.child({ headers: PRODUCT_ORIGIN.headers });
    for (const [alias, properties] of [
      [
        CONNECTORS_INDEX,
        {
          status: { type: "keyword" },
          service_type: { type: "keyword" },
          index_name: { type: "keyword" },
          deleted: { type: "boolean" },
        },
      ],
      [
        JOBS_INDEX,
        {
          status: { type: "keyword" },
          job_type: { type: "keyword" },
          created_at: { type: "date" },
          last_seen: { type: "date" },
          connector: { properties: { id: { type: "keyword" } } },
        },
      ],
    ] as const) {
      await ensureIndex(
        client,
        alias,
        {
          index: `${alias}-v1`,
          aliases: { [alias]: { is_write_index: true } },
          settings: HIDDEN_SMALL_INDEX,
          mappings: { dynamic: false, properties },
        },
        signal,
      );
    }
  }

  async getConnector(id: string, signal?: AbortSignal): Promise<Versioned<ConnectorDocument> | undefined> {
    return this.get<ConnectorDocument>(CONNECTORS_INDEX, id, signal);
  }

  async connectorExists(id: string): Promise<boolean> {
    const found = await this.getConnector(id);
    return found !== undefined && found.doc.deleted !== true;
  }

  async updateConnector(
    id: string,
    partial: Partial<ConnectorDocument>,
    version?: { seqNo: number; primaryTerm: number },
  ): Promise<boolean> {
    return this.update(CONNECTORS_INDEX, id, partial, version);
  }

  /**
   * Indexes a pending job as `POST _connector/_sync_job` does
   * (`ConnectorSyncJobIndexService.createConnectorSyncJob`): a snapshot of the connector's
   * configuration, active sync rules (with their validation), index, language, pipeline and
   * type; the counts at zero; `last_seen` now. The connector's cursor is added, as Elastic's
   * direct-index path does, for incremental jobs.
   */
  async createJob(
    connector: Versioned<ConnectorDocument>,
    jobType: JobType,
    trigger: JobDocument["trigger_method"],
  ): Promise<string> {
    const c = connector.doc;
    const now = new Date().toISOString();
    const job: JobDocument = {
      connector: {
        id: connector.id,
        configuration: c.configuration ?? {},
        filtering: c.filtering?.[0]?.active ?? null,
        index_name: c.index_name ?? null,
        language: (c.language as string | undefined) ?? null,
        pipeline: c.pipeline ?? null,
        service_type: c.service_type ?? null,
        sync_cursor: c.sync_cursor ?? null,
      },
      job_type: jobType,
      trigger_method: trigger,
      status: "pending",
      created_at: now,
      last_seen: now,
      indexed_document_count: 0,
      indexed_document_volume: 0,
      deleted_document_count: 0,
      total_document_count: 0,
      metadata: {},
    };
    try {
      const result = await this.client.index(
        { index: JOBS_INDEX, document: job, refresh: true },
        PRODUCT_ORIGIN,
      );
      return result._id;
    } catch (error) {
      throw describeEsError(error, "cannot create a sync job");
    }
  }

  async getJob(id: string, signal?: AbortSignal): Promise<Versioned<JobDocument> | undefined> {
    return this.get<JobDocument>(JOBS_INDEX, id, signal);
  }

  async pendingJobs(connectorIds: string[], signal?: AbortSignal): Promise<Versioned<JobDocument>[]> {
    return this.search(
      JOBS_INDEX,
      {
        bool: {
          filter: [
            { terms: { status: ["pending", "suspended"] } },
            { terms: { "connector.id": connectorIds } },
          ],
        },
      },
      undefined,
      signal,
    );
  }

  /** What `_claim` writes (status, worker, timestamps, the cursor), only if the job did not change since read. */
  async claimJob(job: Versioned<JobDocument>, worker: string, syncCursor?: unknown): Promise<boolean> {
    const now = new Date().toISOString();
    return this.update(
      JOBS_INDEX,
      job.id,
      {
        status: "in_progress",
        started_at: now,
        last_seen: now,
        worker_hostname: worker,
        ...(syncCursor == null ? {} : { connector: { sync_cursor: syncCursor } }),
      },
      { seqNo: job.seqNo, primaryTerm: job.primaryTerm },
    );
  }

  async updateJob(id: string, partial: Partial<JobDocument>): Promise<void> {
    await this.update(JOBS_INDEX, id, partial);
  }

  async activeJobs(connectorId: string, signal?: AbortSignal): Promise<Versioned<JobDocument>[]> {
    return this.search(
      JOBS_INDEX,
      {
        bool: {
          filter: [
            { terms: { status: ["in_progress", "canceling"] } },
            { term: { "connector.id": connectorId } },
          ],
        },
      },
      undefined,
      signal,
    );
  }

  async staleJobs(before: string, signal?: AbortSignal): Promise<Versioned<JobDocument>[]> {
    return this.search(
      JOBS_INDEX,
      {
        bool: {
          filter: [{ terms: { status: ["in_progress", "canceling"] } }],
          should: [
            { range: { last_seen: { lte: before } } },
            { bool: { must_not: { exists: { field: "last_seen" } } } },
          ],
          minimum_should_match: 1,
        },
      },
      undefined,
      signal,
    );
  }

  async checkIn(id: string): Promise<void> {
    await this.updateConnector(id, { last_seen: new Date().toISOString() });
  }

  async setDraftValidation(
    connector: Versioned<ConnectorDocument>,
    validation: FilteringRules["validation"],
  ): Promise<void> {
    const filtering = connector.doc.filtering?.[0];
    if (filtering === undefined) return;
    const draft = { ...filtering.draft, validation };
    const updated = {
      ...filtering,
      draft,
      ...(validation.state === "valid" ? { active: { ...draft } } : {}),
    };
    await this.updateConnector(
      connector.id,
      { filtering: [updated, ...(connector.doc.filtering ?? []).slice(1)] },
      connector,
    );
  }

  async reportJobStats(id: string, stats: JobStats): Promise<void> {
    await this.updateJob(id, { ...stats, last_seen: new Date().toISOString() });
  }

  /**
   * Creates a connector as `PUT _connector/<id>` does, with the pipeline settings Kibana and
   * Elastic's CLI add, its configuration fields already registered (needs_configuration), so it
   * can be configured before a service picks it up.
   */
  async createConnector(id: string, options: NewConnector): Promise<void> {
    try {
      await this.client.index(
        {
          index: CONNECTORS_INDEX,
          id,
          document: {
            ...newConnectorDocument(options),
            configuration: defaultConnectorConfiguration(),
            status: "needs_configuration",
          },
          op_type: "create",
          refresh: true,
        },
        PRODUCT_ORIGIN,
      );
    } catch (error) {
      throw describeEsError(error, `cannot create connector ${id}`);
    }
  }

  /** Connectors not deleted, by index name. */
  async listConnectors(): Promise<Versioned<ConnectorDocument>[]> {
    return this.search(CONNECTORS_INDEX, { bool: { must_not: { term: { deleted: true } } } }, [
      { index_name: "asc" },
    ]);
  }

  /** Jobs of a connector (or all), newest first. */
  async listJobs(connectorId?: string): Promise<Versioned<JobDocument>[]> {
    return this.search(
      JOBS_INDEX,
      connectorId === undefined ? { match_all: {} } : { term: { "connector.id": connectorId } },
      [{ created_at: "desc" }],
    );
  }

  /** What `PUT _connector/_sync_job/<id>/_cancel` writes. */
  async cancelJob(id: string): Promise<void> {
    if ((await this.getJob(id)) === undefined)
      throw new PgSearchError(`job ${id} does not exist`, { code: "not_found" });
    await this.updateJob(id, { status: "canceling", cancelation_requested_at: new Date().toISOString() });
  }

  private async get<T>(index: string, id: string, signal?: AbortSignal): Promise<Versioned<T> | undefined> {
    try {
      const result = await this.client.get<T>({ index, id }, { ...PRODUCT_ORIGIN, signal, ignore: [404] });
      if (!result.found || result._source === undefined) return undefined;
      return { id, doc: result._source, seqNo: result._seq_no ?? 0, primaryTerm: result._primary_term ?? 1 };
    } catch (error) {
      throw describeEsError(error, `cannot read ${index}/${id}`);
    }
  }

  private async update(
    index: string,
    id: string,
    partial: object,
    version?: { seqNo: number; primaryTerm: number },
  ): Promise<boolean> {
    try {
      await this.client.update(
        {
          index,
          id,
          doc: partial,
          refresh: true,
          // Unconditional updates race other services' writes inside Elasticsearch's
          // read-modify-write: let it retry them rather than lose the write.
          ...(version === undefined
            ? { retry_on_conflict: 10 }
            : { if_seq_no: version.seqNo, if_primary_term: version.primaryTerm }),
        },
        PRODUCT_ORIGIN,
      );
      return true;
    } catch (error) {
      if (version !== undefined && (error as { meta?: { statusCode?: number } }).meta?.statusCode === 409)
        return false;
      throw describeEsError(error, `cannot update ${index}/${id}`);
    }
  }

  private async search<T = JobDocument>(
    index: string,
    query: Record<string, unknown>,
    sort: Record<string, "asc" | "desc">[] = [{ created_at: "asc" }],
    signal?: AbortSignal,
  ): Promise<Versioned<T>[]> {
    try {
      const result = await this.client.search<T>(
        { index, query, size: 1000, sort, seq_no_primary_term: true, expand_wildcards: "all" },
        { ...PRODUCT_ORIGIN, signal, ignore: [404] },
      );
      // A 404 (no index yet) answers without hits.
      return ((result as Partial<typeof result>).hits?.hits ?? []).map((hit) => ({
        id: hit._id ?? "",
        doc: hit._source as T,
        seqNo: hit._seq_no ?? 0,
        primaryTerm: hit._primary_term ?? 1,
      }));
    } catch (error) {
      throw describeEsError(error, `cannot search ${index}`);
    }
  }
}

export interface NewConnector {
  name: string;
  indexName: string;
  serviceType: string;
}
