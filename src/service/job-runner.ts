import { hostname } from "node:os";
import { resolvePostgresConfig } from "../config/postgres-config.js";
import { CanceledError, PgSearchError } from "../errors.js";
import { redactCredentials } from "../observability/redact.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { prepareRules } from "../sync/prepare.js";
import { ElasticsearchStateStore } from "../sync/state-store.js";
import { SyncEngine, type SyncCursor, type SyncProgress, type SyncResult } from "../sync/sync-engine.js";
import { claimJob } from "./job-claim.js";
import type { JobDocument, JobStatus, Versioned } from "./protocol.js";
import { contentClientFor, type ServiceDependencies } from "./service-deps.js";

type Counts = { indexed: number; deleted: number; failed: number; bytes: number };

/**
 * Runs pending jobs: claims them (see job-claim.ts), runs the sync with the job's snapshot of
 * the connector, reports stats and watches for cancelation while it runs, and writes the outcome
 * to the job and the connector.
 */
export class JobRunner {
  private readonly running = new Map<
    string,
    { connectorId: string; controller: AbortController; done: Promise<void> }
  >();
  readonly worker: string;

  constructor(private readonly deps: ServiceDependencies) {
    this.worker = deps.workerName ?? hostname();
  }

  /** Claims and starts pending jobs of these connectors, up to the concurrency limit. */
  async startPending(connectorIds: string[], signal?: AbortSignal): Promise<void> {
    const { protocol, config } = this.deps;
    for (const listed of await protocol.pendingJobs(connectorIds, signal)) {
      if (this.running.size >= config.service.maxConcurrentContentSyncs) return;
      if (listed.doc.job_type === "access_control") continue;
      // One sync per connector at a time.
      if ([...this.running.values()].some((r) => r.connectorId === listed.doc.connector.id)) continue;
      const job = await claimJob(protocol, listed, this.worker);
      if (job === undefined) continue;
      const controller = new AbortController();
      const done = this.run(job, controller).finally(() => this.running.delete(job.id));
      this.running.set(job.id, { connectorId: job.doc.connector.id, controller, done });
    }
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  get size(): number {
    return this.running.size;
  }

  /** Waits for every job this runner started to finish. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Stops every running job; they end suspended and another service can resume them. */
  async suspendAll(): Promise<void> {
    for (const { controller } of this.running.values())
      controller.abort(new CanceledError("service stopping: job suspended"));
    await this.idle();
  }

  private async run(job: Versioned<JobDocument>, controller: AbortController): Promise<void> {
    const { protocol, logger, config } = this.deps;
    const log = logger.child({ connector_id: job.doc.connector.id, job_id: job.id });
    log.info({ job_type: job.doc.job_type, worker: this.worker }, "sync job started");
    const progress = new JobProgress(this.deps, job);
    const statsTimer = setInterval(() => {
      progress.report().catch((error: unknown) => {
        log.warn({ err: error }, "could not report job stats");
      });
    }, config.service.statsInterval * 1000);
    const canceledByUser = { value: false };
    const cancelTimer = setInterval(() => {
      protocol
        .getJob(job.id)
        .then((current) => {
          if (current?.doc.status !== "canceling") return;
          canceledByUser.value = true;
          controller.abort(new CanceledError("canceled by the user"));
        })
        .catch(() => undefined);
    }, config.service.cancelCheckInterval * 1000);
    let result: SyncResult | undefined;
    let failure: string | undefined;
    try {
      result = await this.sync(job, controller.signal, (p) => (progress.latest = p));
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    } finally {
      clearInterval(statsTimer);
      clearInterval(cancelTimer);
    }
    progress.count(result);
    const canceled = result?.status === "canceled" || (failure !== undefined && controller.signal.aborted);
    const status: JobStatus = canceled
      ? canceledByUser.value
        ? "canceled"
        : "suspended"
      : failure !== undefined || result?.status === "failed"
        ? "error"
        : "completed";
    await this.finish(job, status, result, failure ?? result?.error?.message ?? null);
    log.info({ status, indexed: indexedOf(result), deleted: result?.deleted ?? 0 }, `sync job ${status}`);
  }

  /** Writes the outcome: the job's terminal state, then the connector's (which releases its lock). */
  private async finish(
    job: Versioned<JobDocument>,
    status: JobStatus,
    result: SyncResult | undefined,
    error: string | null,
  ): Promise<void> {
    const { protocol } = this.deps;
    const connectorId = job.doc.connector.id;
    const now = new Date().toISOString();
    const indexed = indexedOf(result);
    // Kibana shows these to anyone who can read the connector: no credential in them.
    if (error !== null) error = redactCredentials(error);
    await protocol.updateJob(job.id, {
      status,
      error: status === "error" ? error : null,
      last_seen: now,
      ...(status === "suspended" ? {} : { completed_at: now }),
      ...(status === "canceled" ? { canceled_at: now } : {}),
      indexed_document_count: indexed,
      indexed_document_volume: result === undefined ? 0 : Math.round(result.bulk.bytesSent / 2 ** 20),
      deleted_document_count: result?.deleted ?? 0,
      total_document_count: result?.indexCount ?? null,
      metadata: {
        pgsearch: {
          tables: result?.streams ?? [],
          skipped: result?.skipped ?? [],
          failures: result?.failures ?? [],
        },
      },
    });
    await protocol.updateConnector(connectorId, {
      last_sync_status: status,
      last_sync_error: status === "error" ? error : null,
      ...(status === "suspended"
        ? {}
        : {
            last_synced: now,
            last_indexed_document_count: indexed,
            last_deleted_document_count: result?.deleted ?? 0,
          }),
      ...(status === "completed" && result?.cursor !== undefined ? { sync_cursor: result.cursor } : {}),
      ...(status === "error" ? { status: "error", error } : {}),
    });
    const startedAt = Date.parse(job.doc.started_at ?? now);
    this.deps.metrics?.recordSync(connectorId, status, Math.max(0, Date.parse(now) - startedAt) / 1000);
  }

  /** Runs the job with the configuration, rules and pipeline captured in the job document. */
  private async sync(
    job: Versioned<JobDocument>,
    signal: AbortSignal,
    onProgress: (p: SyncProgress) => void,
  ): Promise<SyncResult> {
    const snapshot = job.doc.connector;
    const indexName = snapshot.index_name;
    if (indexName == null || indexName === "")
      throw new PgSearchError("the connector has no index_name", { code: "config_invalid" });
    const sourceConfig = resolvePostgresConfig(snapshot.configuration ?? {}, "configuration");
    const rules = await prepareRules({
      basic: snapshot.filtering?.rules ?? [],
      advanced: snapshot.filtering?.advanced_snippet.value ?? [],
    });
    const source = new PostgresSource(sourceConfig, connectionFactory(sourceConfig), {
      onRetry: ({ stream, attempt }) => {
        this.deps.logger.warn({ table: stream, attempt }, "PostgreSQL connection lost; resuming");
      },
    });
    const client = contentClientFor(this.deps, snapshot.id);
    const engine = new SyncEngine({
      source,
      client,
      state: new ElasticsearchStateStore(client),
      logger: this.deps.logger,
    });
    const pipeline = await existingPipeline(this.deps, snapshot.pipeline?.name);
    return engine.run({
      indexName,
      jobType: job.doc.job_type === "incremental" ? "incremental" : "full",
      advancedRules: rules.advanced,
      basicRules: rules.basic,
      options: { ...this.deps.config.sync, pipeline },
      signal,
      onProgress,
      cursor: (snapshot.sync_cursor as SyncCursor | null | undefined) ?? null,
    });
  }
}

/** The job's periodic report (counts, metadata, liveness) and the metrics' counters. */
class JobProgress {
  latest: SyncProgress | undefined;
  private reported: Counts = { indexed: 0, deleted: 0, failed: 0, bytes: 0 };

  constructor(
    private readonly deps: ServiceDependencies,
    private readonly job: Versioned<JobDocument>,
  ) {}

  async report(): Promise<void> {
    const p = this.latest;
    this.count(p);
    await this.deps.protocol.reportJobStats(this.job.id, {
      indexed_document_count: indexedOf(p),
      indexed_document_volume: p === undefined ? 0 : Math.round(p.bulk.bytesSent / 2 ** 20),
      deleted_document_count: p?.deleted ?? 0,
      metadata: { pgsearch: { phase: p?.phase ?? "starting", tables: p?.streams ?? [] } },
    });
  }

  /** Adds what was done since the last count to the metrics. */
  count(p: SyncProgress | SyncResult | undefined): void {
    const m = this.deps.metrics;
    if (m === undefined || p === undefined) return;
    const now: Counts = {
      indexed: indexedOf(p),
      deleted: p.deleted,
      failed: p.bulk.failed,
      bytes: p.bulk.bytesSent,
    };
    const labels = { connector: this.job.doc.connector.id };
    m.documentsIndexed.inc(labels, Math.max(0, now.indexed - this.reported.indexed));
    m.documentsDeleted.inc(labels, Math.max(0, now.deleted - this.reported.deleted));
    m.documentFailures.inc(labels, Math.max(0, now.failed - this.reported.failed));
    m.bytesSent.inc(labels, Math.max(0, now.bytes - this.reported.bytes));
    m.bulkQueueBytes.set(labels, p.bulk.queuedBytes);
    this.reported = now;
  }
}

function indexedOf(p: SyncProgress | SyncResult | undefined): number {
  return p === undefined ? 0 : p.bulk.created + p.bulk.updated;
}

/** Kibana names a default pipeline that clusters without ingest-common do not have; skip it then. */
async function existingPipeline(deps: ServiceDependencies, name: string | undefined): Promise<string | null> {
  if (name === undefined || name === "") return null;
  try {
    await deps.client.ingest.getPipeline({ id: name });
    return name;
  } catch {
    deps.logger.warn({ pipeline: name }, `ingest pipeline ${name} does not exist; indexing without it`);
    return null;
  }
}
