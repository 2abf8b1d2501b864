import type { SyncOptions } from "../config/app-config.js";
import type { PgSearchError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { AdvancedRule } from "../rules/advanced.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import type { BulkStats } from "../sink/bulk-writer.js";
import type { Client } from "@elastic/elasticsearch";
import type { SkippedTable } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { Collision } from "./collisions.js";
import type { StateStore } from "./state-store.js";

export type JobType = "full" | "incremental";

export interface SyncRequest {
  indexName: string;
  jobType: JobType;
  advancedRules: AdvancedRule[];
  basicRules: BasicRuleEngine;
  options: SyncOptions;
  /** Let the delete pass remove more than `max_delete_percent` of the index. */
  allowMassDelete?: boolean;
  /** Continue an interrupted sync of the same plan from its checkpoints (default true). */
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
  /**
   * Incremental cursor to start from (service mode: the connector's `sync_cursor`); standalone
   * syncs keep it in the state index.
   */
  cursor?: SyncCursor | null | undefined;
}

export interface SyncCursor {
  snapshot_started_at: string;
  job_type: string;
}

export interface StreamProgress {
  stream: string;
  estimatedRows: number;
  rowsRead: number;
  docsSent: number;
  unchanged: number;
  filtered: number;
  oversize: number;
  state: "waiting" | "reading" | "done" | "failed" | "skipped";
  error?: string;
}

export interface SyncProgress {
  phase: "planning" | "reading" | "deleting" | "done";
  streams: StreamProgress[];
  bulk: BulkStats;
  deleted: number;
  elapsedMs: number;
}

export interface DocumentFailure {
  id: string;
  table: string | undefined;
  status: number;
  reason: string;
}

export interface OversizeDocument {
  stream: string;
  key: (string | null)[];
  id: string;
  bytes: number;
}

export interface SyncResult {
  status: "completed" | "failed" | "canceled";
  jobType: JobType;
  indexName: string;
  startedAt: string;
  durationMs: number;
  resumed: boolean;
  streams: StreamProgress[];
  skipped: SkippedTable[];
  bulk: BulkStats;
  /** Documents Elasticsearch refused, with the table and the reason (the first 100). */
  failures: DocumentFailure[];
  oversize: OversizeDocument[];
  /** Rows that would share a document id, columns that would share a field (exit 3). */
  collisions: Collision[];
  /** Documents deleted because the source no longer has them. */
  deleted: number;
  /** Why the delete pass did not run, when it did not. */
  deleteSkippedReason?: string;
  /** Total documents in the index at the end. */
  indexCount?: number;
  error?: PgSearchError;
  warnings: string[];
  /** Where the next incremental sync starts (set when the sync completed). */
  cursor?: SyncCursor;
}

export interface SyncDependencies {
  source: PostgresSource;
  client: Client;
  state: StateStore;
  logger: Logger;
}
