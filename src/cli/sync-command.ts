import type { AppConfig } from "../config/app-config.js";
import { loadAppConfig } from "../config/index.js";
import { CanceledError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { FollowSession, startupStep } from "../sync/follow-session.js";
import { prepareRules, type PreparedRules } from "../sync/prepare.js";
import { ElasticsearchStateStore } from "../sync/state-store.js";
import type { SyncResult } from "../sync/sync-engine.js";
import { EXIT, reportError } from "./exit-codes.js";
import { cliMetrics, type CliMetrics } from "./cli-metrics.js";
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
    metricsPort?: string;
    metricsHost: string;
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
    startupStep(logger, "config");
    const wired = await wireStandalone(config, logger, controller.signal);
    close = wired.close;
    const display = new ProgressDisplay();
    const metrics = await cliMetrics(opts, wired, config.indexName);
    close = async () => {
      metrics?.server.close();
      await wired.close();
    };
    let exitCode: number = EXIT.ok;
    const sync = async (): Promise<boolean> => {
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
      metrics?.recordSync(result);
      exitCode = syncExitCode(result);
      return result.status === "completed";
    };
    if (opts.follow !== true) {
      await sync();
      return exitCode;
    }
    const ended = await followSession(
      opts.slot,
      config,
      rules,
      wired,
      sync,
      logger,
      controller.signal,
      metrics,
    ).run();
    return ended === "sync_incomplete" ? exitCode : EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await close();
  }
}

function syncExitCode(result: SyncResult): number {
  if (result.status === "canceled") return EXIT.canceled;
  if (result.status === "failed") return EXIT.syncFailed;
  return result.bulk.failed > 0 || result.oversize.length > 0 || result.collisions.length > 0
    ? EXIT.completedWithErrors
    : EXIT.ok;
}

/**
 * `sync --follow`: the slot exists before the full sync's snapshot, so no change between them is
 * missed; a slot that exists (and an index whose last sync completed) streams at once.
 */
function followSession(
  slot: string,
  config: AppConfig,
  rules: PreparedRules,
  wired: Awaited<ReturnType<typeof wireStandalone>>,
  sync: () => Promise<boolean>,
  logger: Logger,
  signal: AbortSignal,
  metrics?: CliMetrics,
): FollowSession {
  const state = new ElasticsearchStateStore(wired.es.client);
  return new FollowSession({
    source: wired.source,
    client: wired.es.client,
    logger,
    indexName: config.indexName,
    slotName: slot,
    advancedRules: rules.advanced,
    basicRules: rules.basic,
    sync: config.sync,
    onDocumentError: config.follow.onDocumentError,
    signal,
    initialSync: async (reason) => {
      process.stderr.write(`full sync first: ${reason}\n`);
      return sync();
    },
    indexComplete: async () => (await state.load(config.indexName, signal))?.status === "completed",
    onFollowing: ({ fullSync }) => {
      metrics?.following();
      logger.info({ slot }, "following changes");
      process.stderr.write(
        `following changes through slot ${slot}${fullSync ? "" : " from its position (no full sync needed)"} (Ctrl-C stops; the slot keeps the position)\n`,
      );
    },
    onApplied: (batch) => {
      metrics?.applied(batch);
      logger.info(
        { keys: batch.keys, indexed: batch.indexed, deleted: batch.deleted, lsn: batch.lsn },
        "changes applied",
      );
    },
    onRetry: ({ delayMs, error }) => {
      process.stderr.write(
        `change stream lost (${error.message}); reconnecting in ${String(Math.round(delayMs / 1000))} s\n`,
      );
    },
  });
}
