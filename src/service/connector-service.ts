import type { Client } from "@elastic/elasticsearch";
import { Cron } from "croner";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { defaultConnectorConfiguration } from "../config/connector-fields.js";
import { resolvePostgresConfig } from "../config/postgres-config.js";
import { CanceledError, PgSearchError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { assertReadOnlyQuery, parseAdvancedRules } from "../rules/advanced.js";
import { validateBasicRules } from "../rules/basic.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { ChangeFollower, dropSlot, followRetryDelayMs } from "../sync/follow.js";
import { prepareRules } from "../sync/prepare.js";
import { ElasticsearchStateStore } from "../sync/state-store.js";
import { SyncEngine, type SyncCursor, type SyncProgress, type SyncResult } from "../sync/sync-engine.js";
import type {
  ConnectorDocument,
  ConnectorProtocol,
  FilteringRules,
  JobDocument,
  JobType,
  Versioned,
} from "./protocol.js";
import type { ServiceConfig } from "./service-config.js";

/** What the PostgreSQL source supports, written into the connector document. */
export const POSTGRESQL_FEATURES = {
  sync_rules: { basic: { enabled: true }, advanced: { enabled: true } },
  incremental_sync: { enabled: true },
  document_level_security: { enabled: false },
  native_connector_api_keys: { enabled: false },
};

export interface ServiceDependencies {
  config: ServiceConfig;
  protocol: ConnectorProtocol;
  /** Client for content indices (per-connector API keys are applied by the caller). */
  client: Client;
  logger: Logger;
  /** Name written as the job's worker_hostname; several services on one host need distinct names. */
  workerName?: string;
  metrics?: Metrics | undefined;
  /**
   * Client for a connector's content index when config.yml gives that connector its own
   * `api_key` (Elastic's per-connector override); `client` otherwise.
   */
  contentClient?: ((connectorId: string) => Client | undefined) | undefined;
}

/**
 * The connector service: manages the connectors of config.yml (self-registration, validation,
 * ping, check-in, sync rule validation), schedules jobs from Quartz cron expressions, runs
 * pending jobs and cleans up stale ones. Everything happens through the connector protocol, so
 * Kibana and the `_connector` APIs see the same documents and statuses as with Elastic's service.
 */
export class ConnectorService {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly worker: string;
  private lastCleanup = 0;
  private readonly lastCheckIn = new Map<string, number>();
  private readonly wakeUp = new Date();

  constructor(private readonly deps: ServiceDependencies) {
    this.worker = deps.workerName ?? hostname();
  }

  /** Polls until `signal` aborts; then running jobs stop and are marked suspended. */
  async run(signal: AbortSignal): Promise<void> {
    await this.deps.protocol.prepare(signal);
    this.deps.logger.info(
      { protocol: this.deps.protocol.name, worker: this.worker },
      `connector service started (protocol: ${this.deps.protocol.name})`,
    );
    while (!signal.aborted) {
      await this.tick(signal).catch((error: unknown) => {
        if (!signal.aborted) this.deps.logger.error({ err: error }, "service loop error; retrying next poll");
      });
      await sleep(this.deps.config.service.idling * 1000, undefined, { signal }).catch(() => undefined);
    }
    await this.stopJobs("suspended");
  }

  /** One poll: connectors, schedules, pending jobs, clean-up. Exposed for tests. */
  async tick(signal?: AbortSignal): Promise<void> {
    for (const managed of this.deps.config.connectors) {
      const connector = await this.manageConnector(managed.connectorId, signal);
      if (connector !== undefined) await this.schedule(connector);
      await this.manageFollower(managed.connectorId, connector);
    }
    await this.startPendingJobs(signal);
    if (Date.now() - this.lastCleanup > this.deps.config.service.jobCleanupInterval * 1000) {
      this.lastCleanup = Date.now();
      await this.cleanup(signal);
    }
  }

  /** Waits for every job this service started to finish. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private async manageConnector(
    id: string,
    signal?: AbortSignal,
  ): Promise<Versioned<ConnectorDocument> | undefined> {
    const { protocol, logger } = this.deps;
    let connector = await protocol.getConnector(id, signal);
    if (connector === undefined || connector.doc.deleted === true) {
      logger.warn(
        { connector_id: id },
        `connector ${id} does not exist; create it in Kibana or with PUT _connector/${id}`,
      );
      return undefined;
    }
    const doc = connector.doc;
    // Self-registration: the connector gets its configuration fields, features and type.
    const patch: Partial<ConnectorDocument> = {};
    if (doc.service_type == null) patch.service_type = "postgresql";
    if (JSON.stringify(doc.features ?? {}) !== JSON.stringify(POSTGRESQL_FEATURES))
      patch.features = POSTGRESQL_FEATURES;
    const defaults = defaultConnectorConfiguration();
    if (doc.configuration === undefined || Object.keys(doc.configuration).length === 0) {
      patch.configuration = defaults;
      patch.status = "needs_configuration";
    } else {
      const missing = Object.keys(defaults).filter((key) => !(key in (doc.configuration ?? {})));
      if (missing.length > 0) {
        patch.configuration = {
          ...doc.configuration,
          ...Object.fromEntries(missing.map((key) => [key, defaults[key]])),
        };
        logger.warn(
          { connector_id: id, fields: missing },
          "new configuration fields added with defaults; review them",
        );
      }
    }
    if (doc.filtering === undefined || doc.filtering.length === 0) patch.filtering = [defaultFiltering()];
    if (Object.keys(patch).length > 0) {
      if (!(await protocol.updateConnector(id, patch, connector))) return undefined; // changed meanwhile: next poll
      connector = await protocol.getConnector(id, signal);
      if (connector === undefined) return undefined;
    }
    if (connector.doc.status === "created" || connector.doc.status === "needs_configuration")
      return undefined;

    await this.checkIn(connector);
    await this.validateDraftRules(connector);
    // Validate configuration and ping PostgreSQL: connected, or error with a readable message.
    // An errored connector is re-checked every poll, so it recovers on its own.
    let status: "connected" | "error" = "connected";
    let error: string | null = null;
    try {
      const config = resolvePostgresConfig(connector.doc.configuration ?? {}, "configuration");
      await new PostgresSource(config, connectionFactory(config)).ping(signal);
    } catch (caught) {
      status = "error";
      error = caught instanceof Error ? caught.message : String(caught);
    }
    if (connector.doc.status !== status || (connector.doc.error ?? null) !== error) {
      if (this.running.size === 0 || status === "error") {
        await protocol.updateConnector(id, { status, error });
        if (status === "error") logger.warn({ connector_id: id }, `connector ${id}: ${error ?? ""}`);
      }
      connector = (await protocol.getConnector(id, signal)) ?? connector;
    }
    return connector.doc.status === "error" ? undefined : connector;
  }

  private async checkIn(connector: Versioned<ConnectorDocument>): Promise<void> {
    const last = this.lastCheckIn.get(connector.id) ?? 0;
    if (Date.now() - last < this.deps.config.service.heartbeat * 1000) return;
    this.lastCheckIn.set(connector.id, Date.now());
    await this.deps.protocol.checkIn(connector.id);
  }

  /** Kibana edits the draft and marks it "edited"; the service validates it and activates it when valid. */
  private async validateDraftRules(connector: Versioned<ConnectorDocument>): Promise<void> {
    const filtering = connector.doc.filtering?.[0];
    if (filtering?.draft.validation.state !== "edited") return;
    const errors: { ids: string[]; messages: string[] }[] = [
      ...validateBasicRules(filtering.draft.rules).errors,
    ];
    try {
      for (const rule of parseAdvancedRules(filtering.draft.advanced_snippet.value))
        await assertReadOnlyQuery(rule);
    } catch (error) {
      errors.push({ ids: ["advanced_snippet"], messages: [(error as Error).message] });
    }
    const validation: FilteringRules["validation"] = {
      state: errors.length === 0 ? "valid" : "invalid",
      errors,
    };
    await this.deps.protocol.setDraftValidation(connector, validation);
    this.deps.logger.info(
      { connector_id: connector.id, state: validation.state },
      `draft sync rules ${validation.state}`,
    );
  }

  /**
   * Creates scheduled jobs. Each due time is claimed by writing `last_<type>_sync_scheduled_at`
   * with if_seq_no/if_primary_term, so with several services exactly one creates the job.
   */
  private async schedule(connector: Versioned<ConnectorDocument>): Promise<void> {
    for (const jobType of ["incremental", "full"] as const) {
      const schedule = connector.doc.scheduling?.[jobType];
      if (schedule?.enabled !== true || schedule.interval === "") continue;
      const field = jobType === "full" ? "last_sync_scheduled_at" : "last_incremental_sync_scheduled_at";
      const previous = connector.doc[field];
      let cron: Cron;
      try {
        cron = quartz(schedule.interval);
      } catch (error) {
        this.deps.logger.warn(
          { connector_id: connector.id, interval: schedule.interval },
          `invalid schedule: ${(error as Error).message}`,
        );
        continue;
      }
      const from = previous == null ? this.wakeUp : new Date(previous);
      const due = cron.nextRun(from);
      if (due === null || due.getTime() > Date.now()) continue;
      const fresh = await this.deps.protocol.getConnector(connector.id);
      if (fresh === undefined || (fresh.doc[field] ?? null) !== (previous ?? null)) continue; // another service took it
      if (!(await this.deps.protocol.updateConnector(connector.id, { [field]: due.toISOString() }, fresh)))
        continue;
      const jobId = await this.deps.protocol.createJob(fresh, jobType, "scheduled");
      this.deps.logger.info(
        { connector_id: connector.id, job_id: jobId, due: due.toISOString() },
        `scheduled ${jobType} sync created`,
      );
    }
  }

  private async startPendingJobs(signal?: AbortSignal): Promise<void> {
    const ids = this.deps.config.connectors.map((c) => c.connectorId);
    for (const job of await this.deps.protocol.pendingJobs(ids, signal)) {
      if (this.running.size >= this.deps.config.service.maxConcurrentContentSyncs) return;
      if (job.doc.job_type === "access_control") continue;
      // One sync per connector at a time.
      if ([...this.running.keys()].some((key) => key.startsWith(`${job.doc.connector.id}/`))) continue;
      if (!(await this.deps.protocol.claimJob(job, this.worker))) continue;
      const controller = new AbortController();
      const key = `${job.doc.connector.id}/${job.id}`;
      const done = this.runJob(job, controller).finally(() => this.running.delete(key));
      this.running.set(key, { controller, done });
    }
  }

  private async runJob(job: Versioned<JobDocument>, controller: AbortController): Promise<void> {
    const { protocol, logger, config } = this.deps;
    const connectorId = job.doc.connector.id;
    const log = logger.child({ connector_id: connectorId, job_id: job.id });
    log.info({ job_type: job.doc.job_type }, "sync job started");
    await protocol.updateConnector(connectorId, { last_sync_status: "in_progress", last_sync_error: null });
    let latest: SyncProgress | undefined;
    const cancel = { byUser: false };
    let reported = { indexed: 0, deleted: 0, failed: 0, bytes: 0 };
    const count = (p: SyncProgress | SyncResult | undefined): void => {
      const m = this.deps.metrics;
      if (m === undefined || p === undefined) return;
      const now = {
        indexed: p.bulk.created + p.bulk.updated,
        deleted: p.deleted,
        failed: p.bulk.failed,
        bytes: p.bulk.bytesSent,
      };
      const labels = { connector: connectorId };
      m.documentsIndexed.inc(labels, Math.max(0, now.indexed - reported.indexed));
      m.documentsDeleted.inc(labels, Math.max(0, now.deleted - reported.deleted));
      m.documentFailures.inc(labels, Math.max(0, now.failed - reported.failed));
      m.bytesSent.inc(labels, Math.max(0, now.bytes - reported.bytes));
      m.bulkQueueBytes.set(labels, p.bulk.queuedBytes);
      reported = now;
    };
    const report = async (): Promise<void> => {
      const p = latest;
      count(p);
      await protocol.reportJobStats(job.id, {
        indexed_document_count: p === undefined ? 0 : p.bulk.created + p.bulk.updated,
        indexed_document_volume: p === undefined ? 0 : Math.round(p.bulk.bytesSent / 2 ** 20),
        deleted_document_count: p?.deleted ?? 0,
        metadata: { pgsearch: { phase: p?.phase ?? "starting", tables: p?.streams ?? [] } },
      });
    };
    const statsTimer = setInterval(() => {
      report().catch((error: unknown) => {
        log.warn({ err: error }, "could not report job stats");
      });
    }, config.service.statsInterval * 1000);
    const cancelTimer = setInterval(() => {
      protocol
        .getJob(job.id)
        .then((current) => {
          if (current?.doc.status === "canceling") {
            cancel.byUser = true;
            controller.abort(new CanceledError("canceled by the user"));
          }
        })
        .catch(() => undefined);
    }, config.service.cancelCheckInterval * 1000);
    let result: SyncResult | undefined;
    let failure: string | undefined;
    try {
      result = await this.sync(job, controller.signal, (p) => (latest = p));
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    } finally {
      clearInterval(statsTimer);
      clearInterval(cancelTimer);
    }
    count(result);
    const now = new Date().toISOString();
    const canceled = result?.status === "canceled" || (failure !== undefined && controller.signal.aborted);
    const status = canceled
      ? cancel.byUser
        ? "canceled"
        : "suspended"
      : failure !== undefined || result?.status === "failed"
        ? "error"
        : "completed";
    const error = failure ?? result?.error?.message ?? null;
    const indexed = result === undefined ? 0 : result.bulk.created + result.bulk.updated;
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
    this.deps.metrics?.jobs.inc({ connector: connectorId, status });
    log.info({ status, indexed, deleted: result?.deleted ?? 0 }, `sync job ${status}`);
  }

  /** Runs the job with the configuration, rules and pipeline captured in the job document. */
  private async sync(
    job: Versioned<JobDocument>,
    signal: AbortSignal,
    onProgress: (p: SyncProgress) => void,
  ): Promise<SyncResult> {
    const snapshot = job.doc.connector;
    const indexName = snapshot.index_name;
    if (indexName === undefined || indexName === "")
      throw new PgSearchError("the connector has no index_name", { code: "config_invalid" });
    const sourceConfig = resolvePostgresConfig(snapshot.configuration ?? {}, "configuration");
    const rules = await prepareRules({
      basic: snapshot.filtering?.rules ?? [],
      advanced: snapshot.filtering?.advanced_snippet?.value ?? [],
    });
    const source = new PostgresSource(sourceConfig, connectionFactory(sourceConfig), {
      onRetry: ({ stream, attempt }) => {
        this.deps.logger.warn({ table: stream, attempt }, "PostgreSQL connection lost; resuming");
      },
    });
    const engine = new SyncEngine({
      source,
      client: this.contentClientFor(job.doc.connector.id),
      state: new ElasticsearchStateStore(this.contentClientFor(job.doc.connector.id)),
      logger: this.deps.logger,
    });
    const pipeline = await this.existingPipeline(snapshot.pipeline?.name);
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

  private contentClientFor(connectorId: string): Client {
    return this.deps.contentClient?.(connectorId) ?? this.deps.client;
  }

  /** Kibana names a default pipeline that clusters without ingest-common do not have; skip it then. */
  private async existingPipeline(name: string | undefined): Promise<string | null> {
    if (name === undefined || name === "") return null;
    try {
      await this.deps.client.ingest.getPipeline({ id: name });
      return name;
    } catch {
      this.deps.logger.warn(
        { pipeline: name },
        `ingest pipeline ${name} does not exist; indexing without it`,
      );
      return null;
    }
  }

  /** Marks jobs not seen for `idle_job_timeout` seconds, or whose connector is gone, as failed. */
  async cleanup(signal?: AbortSignal): Promise<void> {
    const before = new Date(Date.now() - this.deps.config.service.idleJobTimeout * 1000).toISOString();
    for (const job of await this.deps.protocol.staleJobs(before, signal)) {
      if ([...this.running.keys()].some((key) => key.endsWith(`/${job.id}`))) continue;
      const orphaned = !(await this.deps.protocol.connectorExists(job.doc.connector.id));
      const now = new Date().toISOString();
      await this.deps.protocol.updateJob(job.id, {
        status: "error",
        error: orphaned
          ? "The connector of this job no longer exists."
          : "The job has not seen any update for some time.",
        completed_at: now,
        last_seen: now,
      });
      if (!orphaned)
        await this.deps.protocol.updateConnector(job.doc.connector.id, {
          last_sync_status: "error",
          last_sync_error: "The job has not seen any update for some time.",
        });
      this.deps.logger.warn(
        { job_id: job.id, connector_id: job.doc.connector.id },
        orphaned ? "orphaned job failed" : "idle job failed",
      );
    }
  }

  private async stopJobs(status: "suspended"): Promise<void> {
    for (const { controller } of this.running.values())
      controller.abort(new CanceledError(`service stopping: job ${status}`));
    for (const follower of this.followers.values()) follower.controller?.abort();
    await this.idle();
    await Promise.all([...this.followers.values()].map((f) => f.done ?? Promise.resolve()));
  }

  private readonly followers = new Map<
    string,
    {
      /** syncing: the initial full sync runs; retrying: the stream failed and waits for retryAt. */
      phase: "syncing" | "following" | "retrying";
      /** Kept to drop the slot after the connector document is gone. */
      config: ReturnType<typeof resolvePostgresConfig>;
      jobId?: string;
      controller?: AbortController;
      done?: Promise<void>;
      /** Stream failures in a row; reset when a batch is applied. */
      failures: number;
      retryAt?: number;
    }
  >();

  /**
   * `follow_changes`: the slot is created first, then a full sync runs, then the slot is
   * streamed (so the stream never overwrites newer data with the snapshot's). Turning it off, or
   * deleting the connector, stops following and drops the slot.
   */
  private async manageFollower(
    connectorId: string,
    connector: Versioned<ConnectorDocument> | undefined,
  ): Promise<void> {
    const state = this.followers.get(connectorId);
    const slot = slotNameFor(connectorId);
    let config: ReturnType<typeof resolvePostgresConfig> | undefined;
    try {
      config =
        connector === undefined
          ? undefined
          : resolvePostgresConfig(connector.doc.configuration ?? {}, "configuration");
    } catch {
      config = undefined;
    }
    const gone = connector === undefined && !(await this.deps.protocol.connectorExists(connectorId));
    if (config?.followChanges !== true) {
      if (state !== undefined || gone) {
        state?.controller?.abort();
        await state?.done;
        this.followers.delete(connectorId);
        if (gone || config !== undefined) await this.dropFollowerSlot(connectorId, config ?? state?.config);
      }
      return;
    }
    if (connector === undefined) return;
    if (state === undefined) {
      const source = new PostgresSource(config, connectionFactory(config));
      const plan = await source.plan(await this.advancedRulesOf(connector));
      const follower = new ChangeFollower(source, this.deps.client, plan, this.deps.logger);
      const admin = await connectionFactory(config).connect();
      try {
        await follower.ensureSlot({ slotName: slot, publication: slot }, admin);
      } finally {
        await admin.end();
      }
      const jobId = await this.deps.protocol.createJob(connector, "full", "on_demand");
      this.followers.set(connectorId, { phase: "syncing", config, jobId, failures: 0 });
      this.deps.logger.info(
        { connector_id: connectorId, slot, job_id: jobId },
        "follow_changes: slot ready, initial full sync queued",
      );
      return;
    }
    if (state.phase === "syncing" && state.jobId !== undefined) {
      const job = await this.deps.protocol.getJob(state.jobId);
      if (job?.doc.status !== "completed") return;
      await this.startFollowing(connectorId, connector, config, 0);
      return;
    }
    if (state.phase === "retrying" && Date.now() >= (state.retryAt ?? 0)) {
      // The slot kept every change since the last acknowledged batch, so streaming resumes
      // without a full sync, unless the slot itself is gone.
      const source = new PostgresSource(config, connectionFactory(config));
      const follower = new ChangeFollower(
        source,
        this.deps.client,
        await source.plan(await this.advancedRulesOf(connector)),
        this.deps.logger,
      );
      const admin = await connectionFactory(config).connect();
      let slotState: "created" | "exists";
      try {
        slotState = await follower.ensureSlot({ slotName: slot, publication: slot }, admin);
      } finally {
        await admin.end();
      }
      if (slotState === "created") {
        const jobId = await this.deps.protocol.createJob(connector, "full", "on_demand");
        this.followers.set(connectorId, { phase: "syncing", config, jobId, failures: state.failures });
        this.deps.logger.warn(
          { connector_id: connectorId, slot, job_id: jobId },
          "follow_changes: the replication slot was gone; recreated it and queued a full sync",
        );
        return;
      }
      await this.startFollowing(connectorId, connector, config, state.failures);
    }
  }

  /** Streams the slot's changes; a failure schedules a retry with exponential backoff. */
  private async startFollowing(
    connectorId: string,
    connector: Versioned<ConnectorDocument>,
    config: ReturnType<typeof resolvePostgresConfig>,
    failures: number,
  ): Promise<void> {
    const slot = slotNameFor(connectorId);
    const source = new PostgresSource(config, connectionFactory(config));
    const rules = await prepareRules({
      basic: connector.doc.filtering?.[0]?.active.rules ?? [],
      advanced: connector.doc.filtering?.[0]?.active.advanced_snippet.value ?? [],
    });
    const plan = await source.plan(rules.advanced);
    const follower = new ChangeFollower(source, this.contentClientFor(connectorId), plan, this.deps.logger);
    const controller = new AbortController();
    const entry = { phase: "following" as const, config, controller, failures, done: Promise.resolve() };
    entry.done = follower
      .run({
        indexName: connector.doc.index_name ?? "",
        slotName: slot,
        publication: slot,
        basicRules: rules.basic,
        sync: this.deps.config.sync,
        signal: controller.signal,
        onApplied: (batch) => {
          entry.failures = 0;
          this.deps.metrics?.documentsIndexed.inc({ connector: connectorId }, batch.indexed);
          this.deps.metrics?.documentsDeleted.inc({ connector: connectorId }, batch.deleted);
          this.deps.logger.info(
            { connector_id: connectorId, keys: batch.keys, lsn: batch.lsn },
            "changes applied",
          );
        },
        onHealth: (health) => {
          this.deps.metrics?.followLagSeconds.set({ connector: connectorId }, health.lagSeconds);
          this.deps.metrics?.slotRetainedBytes.set({ connector: connectorId }, health.retainedBytes);
        },
      })
      .catch(async (error: unknown) => {
        if (controller.signal.aborted) return;
        const attempt = entry.failures + 1;
        const delayMs = followRetryDelayMs(attempt);
        this.deps.logger.error(
          { connector_id: connectorId, err: error, attempt, retry_in_ms: delayMs },
          "following changes failed; retrying",
        );
        this.followers.set(connectorId, {
          phase: "retrying",
          config,
          failures: attempt,
          retryAt: Date.now() + delayMs,
        });
        await this.deps.protocol
          .updateConnector(connectorId, {
            status: "error",
            error: `following changes failed (attempt ${String(attempt)}, retrying in ${String(Math.round(delayMs / 1000))} s): ${(error as Error).message}`,
          })
          .catch(() => undefined);
      });
    this.followers.set(connectorId, entry);
    this.deps.logger.info({ connector_id: connectorId, slot }, "following changes");
  }

  private async advancedRulesOf(connector: Versioned<ConnectorDocument>) {
    return (
      await prepareRules({
        basic: [],
        advanced: connector.doc.filtering?.[0]?.active.advanced_snippet.value ?? [],
      })
    ).advanced;
  }

  private async dropFollowerSlot(
    connectorId: string,
    config: ReturnType<typeof resolvePostgresConfig> | undefined,
  ): Promise<void> {
    if (config === undefined) return;
    const admin = await connectionFactory(config)
      .connect()
      .catch(() => undefined);
    if (admin === undefined) return;
    try {
      if (await dropSlot(admin, slotNameFor(connectorId), slotNameFor(connectorId))) {
        this.deps.logger.info({ connector_id: connectorId }, "replication slot dropped");
      }
    } finally {
      await admin.end();
    }
  }

  /** Whether a follower streams changes for the connector (for tests and status). */
  isFollowing(connectorId: string): boolean {
    return this.followers.get(connectorId)?.phase === "following";
  }
}

/** Replication slot (and publication) of a connector: letters, digits and underscores only. */
export function slotNameFor(connectorId: string): string {
  return `pgsearch_${connectorId.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`.slice(0, 63);
}

function defaultFiltering(): NonNullable<ConnectorDocument["filtering"]>[number] {
  const empty = (): FilteringRules => ({
    rules: [
      {
        id: "DEFAULT",
        field: "_",
        rule: "regex",
        value: ".*",
        policy: "include",
        order: 0,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      },
    ],
    advanced_snippet: { value: {} },
    validation: { state: "valid", errors: [] },
  });
  return { domain: "DEFAULT", active: empty(), draft: empty() };
}

/** Kibana writes Quartz expressions: seconds first, 1 = Sunday, `?` for "no value". */
export function quartz(expression: string): Cron {
  return new Cron(expression, {
    timezone: "UTC",
    alternativeWeekdays: true,
    sloppyRanges: true,
    paused: true,
  });
}

export type { JobType };
