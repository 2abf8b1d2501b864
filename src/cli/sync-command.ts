import type { Client } from "@elastic/elasticsearch";
import { setTimeout as sleep } from "node:timers/promises";
import { loadAppConfig } from "../config/index.js";
import { CanceledError, PgSearchError } from "../errors.js";
import { createLogger, type Logger } from "../observability/logger.js";
import type { AdvancedRule } from "../rules/advanced.js";
import { connectionFactory, isConnectionLost } from "../source/connection.js";
import type { PostgresSource } from "../source/postgres-source.js";
import { ChangeFollower, followRetryDelayMs, type FollowOptions } from "../sync/follow.js";
import { prepareRules } from "../sync/prepare.js";
import { EXIT, reportError } from "./exit-codes.js";
import { printResult } from "./output.js";
import { ProgressDisplay } from "./progress.js";
import { wireStandalone } from "./wiring.js";

export async function runSync(
  opts: {
    config: string;
    incremental?: true;
    resume: boolean;
    allowMassDelete?: true;
    json?: true;
    follow?: true;
    slot: string;
  },
  logger: Logger,
): Promise<number> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.canceled);
    process.stderr.write(
      "\nstopping: finishing the requests in flight and saving the checkpoint (Ctrl-C again to force)\n",
    );
    controller.abort(new CanceledError("interrupted by signal"));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let close = (): Promise<void> => Promise.resolve();
  try {
    const config = loadAppConfig(opts.config);
    const rules = await prepareRules(config.syncRules);
    const wired = await wireStandalone(config, logger, controller.signal);
    close = wired.close;
    const display = new ProgressDisplay();
    // Follow mode: the slot exists before the snapshot, so no change between them is missed.
    const follower =
      opts.follow === true
        ? await prepareFollow(wired.source, wired.es.client, rules.advanced, opts.slot, controller.signal)
        : undefined;
    const result = await wired.engine.run({
      indexName: config.indexName,
      jobType: opts.incremental === true ? "incremental" : "full",
      advancedRules: rules.advanced,
      basicRules: rules.basic,
      options: config.sync,
      allowMassDelete: opts.allowMassDelete === true,
      resume: opts.resume,
      signal: controller.signal,
      onProgress: (p) => {
        display.update(p);
      },
    });
    printResult(result, opts.json === true);
    if (follower !== undefined && result.status === "completed") {
      logger.info({ slot: opts.slot }, "following changes");
      process.stderr.write(
        `following changes through slot ${opts.slot} (Ctrl-C stops; the slot keeps the position)\n`,
      );
      await followWithReconnect(follower, {
        indexName: config.indexName,
        slotName: opts.slot,
        publication: opts.slot,
        basicRules: rules.basic,
        sync: config.sync,
        signal: controller.signal,
        onApplied: (batch) => {
          logger.info(
            { keys: batch.keys, indexed: batch.indexed, deleted: batch.deleted, lsn: batch.lsn },
            "changes applied",
          );
        },
      });
      return EXIT.ok;
    }
    if (result.status === "canceled") return EXIT.canceled;
    if (result.status === "failed") return EXIT.syncFailed;
    return result.bulk.failed > 0 || result.oversize.length > 0 || result.collisions.length > 0
      ? EXIT.completedWithErrors
      : EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await close();
  }
}

/**
 * Follows until stopped. A lost connection (PostgreSQL restarted, network, Elasticsearch
 * unreachable) is retried with backoff from the slot's position, so nothing is lost; anything
 * else (a dropped table, a changed key, a dropped slot) ends the command with its message.
 */
async function followWithReconnect(follower: ChangeFollower, options: FollowOptions): Promise<void> {
  let attempt = 0;
  const stopped = (): boolean => options.signal.aborted;
  while (!stopped()) {
    try {
      await follower.run({
        ...options,
        onApplied: (batch) => {
          attempt = 0;
          options.onApplied?.(batch);
        },
      });
      return;
    } catch (error) {
      if (stopped() || !isTransientFollowError(error)) throw error;
      attempt++;
      const delayMs = followRetryDelayMs(attempt);
      process.stderr.write(
        `change stream lost (${(error as Error).message}); reconnecting in ${String(Math.round(delayMs / 1000))} s\n`,
      );
      await sleep(delayMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
}

function isTransientFollowError(error: unknown): boolean {
  if (isConnectionLost(error)) return true;
  if (error instanceof PgSearchError) return error.retryable;
  return false;
}

async function prepareFollow(
  source: PostgresSource,
  client: Client,
  advanced: AdvancedRule[],
  slot: string,
  signal: AbortSignal,
): Promise<ChangeFollower> {
  const plan = await source.plan(advanced, signal);
  const follower = new ChangeFollower(source, client, plan, await createLogger({ level: "warn" }));
  const admin = await connectionFactory(source.config).connect(signal);
  try {
    await follower.ensureSlot({ slotName: slot, publication: slot }, admin);
  } finally {
    await admin.end();
  }
  return follower;
}
