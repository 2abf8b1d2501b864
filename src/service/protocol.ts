/**
 * The connector protocol: the documents Kibana and the service share, and the operations the
 * service needs. Two backends implement it: the Connector APIs (`_connector/...`) and direct
 * access to the `.elastic-connectors*` indices (clusters without the APIs, like the test one).
 */
export type ConnectorStatus = "created" | "needs_configuration" | "configured" | "connected" | "error";
export type JobStatus =
  "pending" | "in_progress" | "canceling" | "canceled" | "suspended" | "completed" | "error";
export type JobType = "full" | "incremental" | "access_control";

export interface FilteringRules {
  rules: unknown[];
  advanced_snippet: { value: unknown; created_at?: string; updated_at?: string };
  validation: { state: "edited" | "valid" | "invalid"; errors: { ids: string[]; messages: string[] }[] };
}

export interface ConnectorDocument {
  name?: string;
  index_name?: string;
  service_type?: string | null;
  status?: ConnectorStatus;
  error?: string | null;
  is_native?: boolean;
  configuration?: Record<string, unknown>;
  filtering?: { domain: string; active: FilteringRules; draft: FilteringRules }[];
  custom_scheduling?: Record<string, unknown>;
  sync_now?: boolean;
  scheduling?: Partial<Record<JobType, { enabled: boolean; interval: string }>>;
  api_key_id?: string | null;
  pipeline?: {
    name?: string;
    extract_binary_content?: boolean;
    reduce_whitespace?: boolean;
    run_ml_inference?: boolean;
  } | null;
  features?: Record<string, unknown>;
  last_seen?: string | null;
  last_sync_status?: JobStatus | null;
  last_sync_error?: string | null;
  last_synced?: string | null;
  last_indexed_document_count?: number | null;
  last_deleted_document_count?: number | null;
  last_sync_scheduled_at?: string | null;
  last_incremental_sync_scheduled_at?: string | null;
  sync_cursor?: unknown;
  deleted?: boolean;
  [key: string]: unknown;
}

export interface JobDocument {
  connector: {
    id: string;
    configuration?: Record<string, unknown>;
    filtering?: FilteringRules | null;
    index_name?: string | null;
    language?: string | null;
    pipeline?: ConnectorDocument["pipeline"];
    service_type?: string | null;
    sync_cursor?: unknown;
  };
  job_type: JobType;
  trigger_method: "on_demand" | "scheduled";
  status: JobStatus;
  error?: string | null;
  created_at: string;
  started_at?: string | null;
  completed_at?: string | null;
  canceled_at?: string | null;
  cancelation_requested_at?: string | null;
  last_seen?: string | null;
  worker_hostname?: string | null;
  indexed_document_count?: number;
  indexed_document_volume?: number;
  deleted_document_count?: number;
  total_document_count?: number | null;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A document with the version it was read at, for optimistic concurrency. */
export interface Versioned<T> {
  id: string;
  doc: T;
  seqNo: number;
  primaryTerm: number;
}

export interface ConnectorProtocol {
  readonly name: "api" | "index";
  /** Makes sure the system indices exist (preflight). */
  prepare(signal?: AbortSignal): Promise<void>;
  getConnector(id: string, signal?: AbortSignal): Promise<Versioned<ConnectorDocument> | undefined>;
  /**
   * Partial update. With `version`, fails with `false` when someone else changed the document
   * since (the caller re-reads and decides again).
   */
  updateConnector(
    id: string,
    partial: Partial<ConnectorDocument>,
    version?: { seqNo: number; primaryTerm: number },
  ): Promise<boolean>;
  createJob(
    connector: Versioned<ConnectorDocument>,
    jobType: JobType,
    trigger: JobDocument["trigger_method"],
  ): Promise<string>;
  getJob(id: string, signal?: AbortSignal): Promise<Versioned<JobDocument> | undefined>;
  /** Pending and suspended jobs of these connectors, oldest first. */
  pendingJobs(connectorIds: string[], signal?: AbortSignal): Promise<Versioned<JobDocument>[]>;
  /**
   * Marks the job in progress for this worker, with the connector's cursor for incremental jobs.
   * Exclusive only under the connector's lock (job-claim.ts); `false` when the index backend
   * sees the job changed since it was read.
   */
  claimJob(job: Versioned<JobDocument>, worker: string, syncCursor?: unknown): Promise<boolean>;
  updateJob(id: string, partial: Partial<JobDocument>): Promise<void>;
  /** The connector's jobs that run or are being canceled (whoever runs them). */
  activeJobs(connectorId: string, signal?: AbortSignal): Promise<Versioned<JobDocument>[]>;
  /** Running or canceling jobs not seen since `before`, and those of connectors that no longer exist. */
  staleJobs(before: string, signal?: AbortSignal): Promise<Versioned<JobDocument>[]>;
  connectorExists(id: string): Promise<boolean>;
  /** Heartbeat: the connector's `last_seen`. */
  checkIn(id: string): Promise<void>;
  /** Writes the draft rules' validation and, when valid, makes the draft the active rules. */
  setDraftValidation(
    connector: Versioned<ConnectorDocument>,
    validation: FilteringRules["validation"],
  ): Promise<void>;
  /** Periodic job report: counts, metadata and liveness (`last_seen`). */
  reportJobStats(id: string, stats: JobStats): Promise<void>;
}

export interface JobStats {
  indexed_document_count: number;
  indexed_document_volume: number;
  deleted_document_count: number;
  metadata?: Record<string, unknown>;
}
