import type { Versioned } from "./protocol.js";
import { resolvePostgresConfig } from "../config/postgres-config.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { ChangeFollower, dropSlot, followRetryDelayMs } from "../sync/follow.js";
import { prepareRules } from "../sync/prepare.js";
import type { ConnectorDocument } from "./protocol.js";
import { contentClientFor, type ServiceDependencies } from "./service-deps.js";

/**
 * Follower supervision (`follow_changes`): one change follower per connector, started after its
 * initial full sync, retried with backoff when the stream fails, stopped (and its slot dropped)
 * when the option is turned off or the connector is deleted.
 */
export class FollowerSupervisor {
  constructor(private readonly deps: ServiceDependencies) {}

  /** Stops every follower (service shutdown). */
  async stopAll(): Promise<void> {
    for (const follower of this.followers.values()) follower.controller?.abort();
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
  async manage(connectorId: string, connector: Versioned<ConnectorDocument> | undefined): Promise<void> {
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
    const follower = new ChangeFollower(
      source,
      contentClientFor(this.deps, connectorId),
      plan,
      this.deps.logger,
    );
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
