import type { Client } from "@elastic/elasticsearch";
import { setTimeout as sleep } from "node:timers/promises";
import type { SyncOptions } from "../config/app-config.js";
import { PgSearchError, SourceError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { AdvancedRule } from "../rules/advanced.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import { connectionFactory, isConnectionLost } from "../source/connection.js";
import type { SourcePlan } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import { ensureSlot } from "../source/replication-slot.js";
import {
  ChangeFollower,
  followRetryDelayMs,
  type AppliedBatch,
  type OnDocumentError,
  type SlotHealth,
} from "./follow.js";
import { acquireLock, type HeldLock } from "./lock.js";
import { startupStep } from "./startup-step.js";

export { startupStep };

export interface FollowSessionOptions {
  source: PostgresSource;
  /** Writes documents (the content client; the service may use a connector's own API key). */
  client: Client;
  /** Keeps the slot's lock in the state index (default: `client`). */
  stateClient?: Client;
  logger: Logger;
  indexName: string;
  /** Replication slot, and publication, name. */
  slotName: string;
  advancedRules: AdvancedRule[];
  basicRules: BasicRuleEngine;
  sync: SyncOptions;
  onDocumentError?: OnDocumentError;
  documentRetryDelaysMs?: number[];
  signal: AbortSignal;
  /**
   * Runs the full sync the slot needs (new slot, lost slot, or an index whose last sync did not
   * complete); resolves true when it completed. Called with the slot already created, so no
   * change between the slot and the sync's snapshot is missed.
   */
  initialSync: (reason: string) => Promise<boolean>;
  /** Whether the index's last sync completed (standalone: the state index says so). */
  indexComplete?: () => Promise<boolean>;
  onFollowing?: (info: { slot: string; fullSync: boolean }) => void;
  onApplied?: (batch: AppliedBatch) => void;
  onHealth?: (health: SlotHealth) => void;
  /** A transient failure (connection lost): following resumes from the slot after `delayMs`. */
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
}

/**
 * One follow session, used by `sync --follow` and the service's followers: takes the slot's lock,
 * creates the slot when missing, runs the full sync only when the slot is new or lost (or the
 * index is incomplete) and otherwise streams at once from the slot's position, then follows,
 * retrying transient failures with backoff and ending on permanent ones (a refused document, a
 * dropped table, a changed key), which it throws.
 */
export class FollowSession {
  private lock: HeldLock | undefined;

  constructor(private readonly options: FollowSessionOptions) {}

  /** Runs until the signal aborts (resolves) or a permanent error (rejects); releases the lock. */
  async run(): Promise<"stopped" | "sync_incomplete"> {
    const o = this.options;
    this.lock = await acquireLock(o.stateClient ?? o.client, `slot:${o.slotName}`, {
      what: `slot ${o.slotName}`,
      logger: o.logger,
      signal: o.signal,
    });
    startupStep(o.logger, "lock");
    try {
      return await this.followLoop();
    } finally {
      await this.lock.release();
    }
  }

  /** Read through a method: the signal changes while the loop awaits. */
  private stopped(): boolean {
    return this.options.signal.aborted;
  }

  private async followLoop(): Promise<"stopped" | "sync_incomplete"> {
    const o = this.options;
    let attempt = 0;
    let needsSync = true;
    /** The plan prepare() just made, when nothing ran since (no full sync): not made twice. */
    let fresh: SourcePlan | undefined;
    while (!o.signal.aborted) {
      if (needsSync) {
        const prepared = await this.prepare();
        if (prepared === undefined) return "sync_incomplete";
        needsSync = false;
        fresh = prepared.fullSync ? undefined : prepared.plan;
        o.onFollowing?.({ slot: o.slotName, fullSync: prepared.fullSync });
      }
      const plan = fresh;
      fresh = undefined;
      try {
        await this.followOnce(plan, () => {
          attempt = 0;
        });
        return "stopped";
      } catch (error) {
        if (this.stopped()) return "stopped";
        if (isSlotMissing(error)) {
          o.logger.warn({ slot: o.slotName }, `replication slot ${o.slotName} was dropped: recreating it`);
          needsSync = true;
          continue;
        }
        if (!isTransientFollowError(error)) throw error;
        attempt++;
        const delayMs = followRetryDelayMs(attempt);
        o.onRetry?.({ attempt, delayMs, error: error as Error });
        await sleep(delayMs, undefined, { signal: o.signal }).catch(() => undefined);
      }
    }
    return "stopped";
  }

  /** The slot exists afterwards; the full sync ran if it had to. Undefined when it did not complete. */
  private async prepare(): Promise<{ fullSync: boolean; plan: SourcePlan } | undefined> {
    const o = this.options;
    const plan = await o.source.plan(o.advancedRules, o.signal);
    startupStep(o.logger, "plan");
    const admin = await connectionFactory(o.source.config).connect(o.signal);
    let slot: "created" | "exists";
    try {
      slot = await ensureSlot(plan, { slotName: o.slotName, publication: o.slotName }, admin);
    } finally {
      await admin.end();
    }
    startupStep(o.logger, "slot");
    const complete = slot === "exists" && (await (o.indexComplete?.() ?? Promise.resolve(true)));
    startupStep(o.logger, "index state");
    if (complete) return { fullSync: false, plan };
    const reason =
      slot === "created" ? `slot ${o.slotName} is new` : "the index's last sync did not complete";
    return (await o.initialSync(reason)) ? { fullSync: true, plan } : undefined;
  }

  private async followOnce(prepared: SourcePlan | undefined, onProgress: () => void): Promise<void> {
    const o = this.options;
    // Planned again on every (re)start: a table changed while the stream was down is seen.
    const plan = prepared ?? (await o.source.plan(o.advancedRules, o.signal));
    startupStep(o.logger, "plan for the stream");
    const follower = new ChangeFollower(o.source, o.client, plan, o.logger);
    await follower.run({
      indexName: o.indexName,
      slotName: o.slotName,
      publication: o.slotName,
      basicRules: o.basicRules,
      sync: o.sync,
      signal: o.signal,
      ...(o.onDocumentError === undefined ? {} : { onDocumentError: o.onDocumentError }),
      ...(o.documentRetryDelaysMs === undefined ? {} : { documentRetryDelaysMs: o.documentRetryDelaysMs }),
      ...(o.onHealth === undefined ? {} : { onHealth: o.onHealth }),
      onApplied: (batch) => {
        onProgress();
        o.onApplied?.(batch);
      },
    });
  }
}

/**
 * Transient: the connection was lost (PostgreSQL restarted, network, Elasticsearch unreachable);
 * following resumes from the slot. Everything else (a refused document, a dropped table, a
 * changed key, bad configuration) is permanent: retrying cannot help.
 */
export function isTransientFollowError(error: unknown): boolean {
  if (isConnectionLost(error)) return true;
  if (error instanceof PgSearchError) return error.retryable;
  return false;
}

function isSlotMissing(error: unknown): boolean {
  // 42704: undefined_object ("replication slot ... does not exist").
  const cause = error instanceof SourceError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return code === "42704" && /replication slot/i.test((cause as Error).message);
}
