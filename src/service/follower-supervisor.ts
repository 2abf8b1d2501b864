import { setTimeout as sleep } from "node:timers/promises";
import { resolvePostgresConfig, type PostgresConfig } from "../config/postgres-config.js";
import { redactCredentials } from "../observability/redact.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { dropSlot } from "../sync/follow.js";
import { FollowSession } from "../sync/follow-session.js";
import { prepareRules } from "../sync/prepare.js";
import { ElasticsearchStateStore } from "../sync/state-store.js";
import type { ConnectorDocument, Versioned } from "./protocol.js";
import { contentClientFor, type ServiceDependencies } from "./service-deps.js";

interface Follower {
  /** syncing: the initial full sync runs; retrying: a transient failure, resuming from the slot; failed: stopped. */
  phase: "syncing" | "following" | "retrying" | "failed";
  /** Kept to drop the slot after the connector document is gone. */
  config: PostgresConfig;
  controller: AbortController;
  done: Promise<void>;
  /** What the session was started with: a failed session restarts only when this changes. */
  fingerprint: string;
}

/**
 * Follower supervision (`follow_changes`): one follow session per connector (the same
 * FollowSession as `sync --follow`: slot and lock, the initial full sync run as a job Kibana sees,
 * transient failures retried from the slot). A permanent failure (a refused document, a dropped
 * table) stops it with the connector in `error`, not retried until its configuration or sync
 * rules change. Turning the option off, or deleting the connector, stops it and drops the slot.
 */
export class FollowerSupervisor {
  private readonly followers = new Map<string, Follower>();

  constructor(private readonly deps: ServiceDependencies) {}

  /** Stops every follower (service shutdown). */
  async stopAll(): Promise<void> {
    for (const follower of this.followers.values()) follower.controller.abort();
    await Promise.all([...this.followers.values()].map((f) => f.done));
  }

  /** Whether a follower streams changes for the connector (for tests and status). */
  isFollowing(connectorId: string): boolean {
    return this.followers.get(connectorId)?.phase === "following";
  }

  async manage(connectorId: string, connector: Versioned<ConnectorDocument> | undefined): Promise<void> {
    const state = this.followers.get(connectorId);
    let config: PostgresConfig | undefined;
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
        await this.stop(connectorId);
        if (gone || config !== undefined) await this.dropFollowerSlot(connectorId, config ?? state?.config);
      }
      return;
    }
    if (connector === undefined) return;
    const fingerprint = JSON.stringify([connector.doc.configuration, connector.doc.filtering?.[0]?.active]);
    if (state !== undefined) {
      if (state.phase !== "failed" || state.fingerprint === fingerprint) return;
      await this.stop(connectorId);
    }
    await this.start(connector, config, fingerprint);
  }

  private async stop(connectorId: string): Promise<void> {
    const state = this.followers.get(connectorId);
    state?.controller.abort();
    await state?.done;
    this.followers.delete(connectorId);
  }

  private async start(
    connector: Versioned<ConnectorDocument>,
    config: PostgresConfig,
    fingerprint: string,
  ): Promise<void> {
    const { deps } = this;
    const connectorId = connector.id;
    const indexName = connector.doc.index_name ?? "";
    const rules = await prepareRules({
      basic: connector.doc.filtering?.[0]?.active.rules ?? [],
      advanced: connector.doc.filtering?.[0]?.active.advanced_snippet.value ?? [],
    });
    const controller = new AbortController();
    const entry: Follower = { phase: "syncing", config, controller, done: Promise.resolve(), fingerprint };
    const labels = { connector: connectorId };
    const session = new FollowSession({
      source: new PostgresSource(config, connectionFactory(config)),
      client: contentClientFor(deps, connectorId),
      stateClient: deps.client,
      logger: deps.logger.child({ connector_id: connectorId }),
      indexName,
      slotName: slotNameFor(connectorId),
      advancedRules: rules.advanced,
      basicRules: rules.basic,
      sync: deps.config.sync,
      signal: controller.signal,
      initialSync: (reason) => this.initialSync(connector, reason, controller.signal),
      indexComplete: async () =>
        (await new ElasticsearchStateStore(deps.client).load(indexName, controller.signal))?.status ===
        "completed",
      onFollowing: () => {
        entry.phase = "following";
        deps.logger.info({ connector_id: connectorId, slot: slotNameFor(connectorId) }, "following changes");
      },
      onApplied: (batch) => {
        entry.phase = "following";
        deps.metrics?.documentsIndexed.inc(labels, batch.indexed);
        deps.metrics?.documentsDeleted.inc(labels, batch.deleted);
        deps.logger.info({ connector_id: connectorId, keys: batch.keys, lsn: batch.lsn }, "changes applied");
      },
      onHealth: (health) => {
        deps.metrics?.followLagSeconds.set(labels, health.lagSeconds);
        deps.metrics?.slotRetainedBytes.set(labels, health.retainedBytes);
      },
      onRetry: ({ attempt, delayMs, error }) => {
        entry.phase = "retrying";
        deps.logger.error(
          { connector_id: connectorId, err: error, attempt, retry_in_ms: delayMs },
          "following changes failed; retrying",
        );
      },
    });
    entry.done = session
      .run()
      .then((result) => {
        if (result === "sync_incomplete")
          return this.fail(entry, connectorId, "the initial full sync did not complete");
        return undefined;
      })
      .catch((error: unknown) => this.fail(entry, connectorId, (error as Error).message));
    this.followers.set(connectorId, entry);
  }

  /** The slot's full sync, as a job Kibana shows: true when it completed. */
  private async initialSync(
    connector: Versioned<ConnectorDocument>,
    reason: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const jobId = await this.deps.protocol.createJob(connector, "full", "on_demand");
    this.deps.logger.info(
      { connector_id: connector.id, job_id: jobId, reason },
      "follow_changes: full sync queued",
    );
    while (!signal.aborted) {
      const status = (await this.deps.protocol.getJob(jobId))?.doc.status;
      if (status === "completed") return true;
      if (status === undefined || status === "error" || status === "canceled") return false;
      await sleep(200, undefined, { signal }).catch(() => undefined);
    }
    return false;
  }

  /** A permanent failure: the connector shows it; no retry until its configuration changes. */
  private async fail(entry: Follower, connectorId: string, message: string): Promise<void> {
    if (entry.controller.signal.aborted) return;
    entry.phase = "failed";
    message = redactCredentials(message);
    this.deps.logger.error({ connector_id: connectorId }, `following changes stopped: ${message}`);
    await this.deps.protocol
      .updateConnector(connectorId, {
        status: "error",
        error: `following changes stopped: ${message} (fix the cause, then edit the connector or restart the service)`,
      })
      .catch(() => undefined);
  }

  private async dropFollowerSlot(connectorId: string, config: PostgresConfig | undefined): Promise<void> {
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
}

/** Replication slot (and publication) of a connector: letters, digits and underscores only. */
export function slotNameFor(connectorId: string): string {
  return `pgsearch_${connectorId.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`.slice(0, 63);
}
