#!/usr/bin/env node
import { Command, Option } from "@commander-js/extra-typings";
import Table from "cli-table3";
import { appConfigJsonSchema, loadAppConfig } from "../config/index.js";
import { CanceledError, ConfigError, ConfigErrors, PgSearchError, SyncRuleError } from "../errors.js";
import { createLogger, normalizeLogLevel, type Logger } from "../observability/logger.js";
import { Metrics } from "../observability/metrics.js";
import { prepareRules } from "../sync/prepare.js";
import type { SyncResult } from "../sync/sync-engine.js";
import { ConnectorService } from "../service/connector-service.js";
import { chooseProtocol } from "../service/choose-protocol.js";
import { loadServiceConfig } from "../service/service-config.js";
import { clientWithCredentials, connectElasticsearch } from "../sink/es-client.js";
import type { Client } from "@elastic/elasticsearch";
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { AdvancedRule } from "../rules/advanced.js";
import { connectionFactory, isConnectionLost } from "../source/connection.js";
import type { PostgresSource } from "../source/postgres-source.js";
import { ChangeFollower, dropSlot, followRetryDelayMs, type FollowOptions } from "../sync/follow.js";
import { addManagementCommands } from "./manage.js";
import { ProgressDisplay } from "./progress.js";
import { wireStandalone } from "./wiring.js";

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The sync ran but did not complete (a table failed, Elasticsearch refused, guard tripped). */
  syncFailed: 1,
  /** The configuration or sync rules are invalid; nothing was written. */
  invalidConfig: 2,
  /** The sync completed but some documents failed or were over the size limit. */
  completedWithErrors: 3,
  /** Stopped by Ctrl-C / SIGTERM; the checkpoint lets the next run resume. */
  canceled: 130,
} as const;

/** Tables without colours: they end up in logs and pipes as often as on terminals. */
const PLAIN = { head: [], border: [] };

const program = new Command()
  .name("pgsearch")
  .description("Keep Elasticsearch search indices in sync with PostgreSQL.")
  .version("0.1.0")
  .showHelpAfterError();

const configOption = new Option("-c, --config <file>", "YAML configuration file").default("connector.yml");

program
  .command("sync")
  .description("copy the configured tables into the index and delete documents whose rows are gone")
  .addOption(configOption)
  .option("--incremental", "send only rows committed since the last sync (needs track_commit_timestamp)")
  .option("--no-resume", "start from scratch even if an interrupted sync left a checkpoint")
  .option("--allow-mass-delete", "let the delete pass remove more than sync.max_delete_percent of the index")
  .option(
    "--follow",
    "after the sync, stream changes continuously through logical replication (Ctrl-C stops)",
  )
  .option("--slot <name>", "replication slot (and publication) name for --follow", "pgsearch")
  .option("--json", "print the result as JSON on stdout")
  .option("--log-level <level>", "debug, info, warning, error", "warn")
  .action(async (opts) => {
    let level: string;
    try {
      level = normalizeLogLevel(opts.logLevel, "--log-level");
    } catch (error) {
      process.exitCode = reportError(error);
      return;
    }
    process.exitCode = await runSync(opts, await createLogger({ level }));
  });

program
  .command("validate")
  .description("check configuration, sync rules and connectivity without writing anything")
  .addOption(configOption)
  .action(async (opts) => {
    process.exitCode = await runValidate(opts.config);
  });

program
  .command("tables")
  .description("list what a sync would read: tables, keys, row estimates, and skipped tables with the reason")
  .addOption(configOption)
  .action(async (opts) => {
    process.exitCode = await runTables(opts.config);
  });

program
  .command("slot")
  .description("replication slot of --follow")
  .command("drop")
  .description("drop the replication slot and its publication (PostgreSQL then stops retaining WAL for it)")
  .addOption(configOption)
  .option("--slot <name>", "slot name", "pgsearch")
  .action(async (opts) => {
    try {
      const config = loadAppConfig(opts.config);
      const admin = await connectionFactory(config.source).connect();
      try {
        const dropped = await dropSlot(admin, opts.slot, opts.slot);
        process.stdout.write(dropped ? `dropped slot ${opts.slot}\n` : `no slot named ${opts.slot}\n`);
      } finally {
        await admin.end();
      }
    } catch (error) {
      process.exitCode = reportError(error);
    }
  });

addManagementCommands(program, (error) => reportError(error));

program
  .command("serve")
  .description("run the connector service managed from Kibana (Elastic's config.yml)")
  .addOption(new Option("-c, --config <file>", "connector service config.yml").default("config.yml"))
  // Elastic's elastic-ingest flags, so its command lines keep working.
  .addOption(new Option("--config-file <file>", "same as --config (Elastic's name)").hideHelp())
  .option(
    "--log-level <level>",
    "debug, info, warning, error, critical (default: service.log_level, else info)",
  )
  .option("--debug", "same as --log-level debug")
  .addOption(new Option("--filebeat", "accepted for Elastic's CLI: logs are always ECS JSON").hideHelp())
  .option("--metrics-port <port>", "serve Prometheus metrics on 127.0.0.1:<port>/metrics")
  .action(async (opts) => {
    process.exitCode = await runServe(
      opts.configFile ?? opts.config,
      opts.debug === true ? "debug" : opts.logLevel,
      opts.metricsPort,
    );
  });

program
  .command("config")
  .description("configuration helpers")
  .command("schema")
  .description("print the JSON Schema of the YAML configuration file")
  .action(() => {
    process.stdout.write(`${JSON.stringify(appConfigJsonSchema(), null, 2)}\n`);
  });

async function runSync(
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

function printResult(result: SyncResult, json: boolean): void {
  if (json) {
    const { error, ...rest } = result;
    process.stdout.write(
      `${JSON.stringify({ ...rest, ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }) }, null, 2)}\n`,
    );
    return;
  }
  const table = new Table({
    head: ["table", "rows read", "sent", "unchanged", "filtered", "oversize", "state"],
  });
  for (const s of result.streams) {
    table.push([
      s.stream,
      s.rowsRead,
      s.docsSent,
      s.unchanged,
      s.filtered,
      s.oversize,
      s.error === undefined ? s.state : `${s.state}: ${s.error}`,
    ]);
  }
  const out = process.stdout;
  out.write(`${table.toString()}\n`);
  const b = result.bulk;
  out.write(
    `sync ${result.status}${result.resumed ? " (resumed)" : ""} in ${(result.durationMs / 1000).toFixed(1)}s: ` +
      `${b.created} created, ${b.updated} updated, ${result.deleted} deleted, ${b.failed} failed; ` +
      `index ${result.indexName} has ${result.indexCount ?? "?"} documents\n`,
  );
  for (const w of result.warnings) out.write(`warning: ${w}\n`);
  for (const f of result.failures.slice(0, 10)) out.write(`failed: id ${f.id}: ${f.reason}\n`);
  for (const c of result.collisions.slice(0, 10)) out.write(`collision: ${c.message}\n`);
  for (const o of result.oversize.slice(0, 10)) {
    out.write(`over the size limit: ${o.stream} key ${JSON.stringify(o.key)} (${o.bytes} bytes)\n`);
  }
  if (result.deleteSkippedReason !== undefined && result.status !== "completed")
    out.write(`${result.deleteSkippedReason}\n`);
  if (result.error !== undefined) out.write(`error: ${result.error.message}\n`);
}

async function runValidate(path: string): Promise<number> {
  const logger = await createLogger({ level: "error" });
  let close = (): Promise<void> => Promise.resolve();
  try {
    const config = loadAppConfig(path);
    process.stdout.write("configuration: ok\n");
    const rules = await prepareRules(config.syncRules);
    process.stdout.write(`sync rules: ok (${rules.advanced.length} advanced)\n`);
    const wired = await wireStandalone(config, logger);
    close = wired.close;
    const server = await wired.source.ping();
    process.stdout.write(
      `postgresql: ok (${server.version}, track_commit_timestamp ${server.commitTimestamps ? "on" : "off"})\n`,
    );
    process.stdout.write(`elasticsearch: ok (${wired.es.version})\n`);
    const plan = await wired.source.plan(rules.advanced);
    process.stdout.write(`streams: ${plan.streams.length} to sync, ${plan.skipped.length} skipped\n`);
    for (const s of plan.skipped) process.stdout.write(`  skipped ${s.table}: ${s.reason}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    await close();
  }
}

async function runTables(path: string): Promise<number> {
  const logger = await createLogger({ level: "error" });
  let close = (): Promise<void> => Promise.resolve();
  try {
    const config = loadAppConfig(path);
    const rules = await prepareRules(config.syncRules);
    const wired = await wireStandalone(config, logger);
    close = wired.close;
    const plan = await wired.source.plan(rules.advanced);
    const table = new Table({ head: ["stream", "key", "columns", "estimated rows", "status"], style: PLAIN });
    for (const s of plan.streams) {
      table.push([
        s.id,
        s.keyIndexes.map((i) => s.columns[i]?.name ?? "?").join(", "),
        s.columns.length,
        s.estimatedRows < 0 ? "?" : s.estimatedRows,
        "sync",
      ]);
    }
    for (const s of plan.skipped) table.push([s.table, "", "", "", `skipped: ${s.reason}`]);
    process.stdout.write(`${table.toString()}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    await close();
  }
}

async function runServe(
  path: string,
  levelFlag: string | undefined,
  metricsPort: string | undefined,
): Promise<number> {
  let config: ReturnType<typeof loadServiceConfig>;
  let level: string;
  try {
    config = loadServiceConfig(path);
    level = normalizeLogLevel(
      levelFlag ?? config.service.logLevel ?? "info",
      levelFlag === undefined ? "service.log_level" : "--log-level",
    );
  } catch (error) {
    return reportError(error);
  }
  const logger = await createLogger({ level, ecs: true });
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.canceled);
    logger.info({}, "stopping: running jobs are suspended and resume on restart");
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // Everything opened is closed on the way out, failed start-ups included, so the process ends.
  const clients: Client[] = [];
  let metricsServer: Server | undefined;
  try {
    const es = await connectElasticsearch(config.elasticsearch, controller.signal);
    clients.push(es.client);
    logger.info({ version: es.version }, `Elasticsearch ${es.version} reachable`);
    const protocol = await chooseProtocol(es.client, config.protocol, logger);
    const metrics = metricsPort === undefined ? undefined : new Metrics();
    metricsServer = await metrics?.listen(Number(metricsPort));
    if (metricsServer !== undefined)
      logger.info({ port: metricsPort }, `Prometheus metrics on http://127.0.0.1:${metricsPort}/metrics`);
    // Elastic's per-connector api_key: that connector's content writes use its own key.
    const contentClients = new Map<string, Client>();
    for (const managed of config.connectors) {
      if (managed.apiKey === undefined) continue;
      const own = clientWithCredentials(
        { ...config.elasticsearch, apiKey: managed.apiKey, username: undefined, password: undefined },
        es,
      );
      clients.push(own);
      contentClients.set(managed.connectorId, own);
    }
    const service = new ConnectorService({
      config,
      protocol,
      client: es.client,
      logger,
      metrics,
      contentClient: (id) => contentClients.get(id),
    });
    await service.run(controller.signal);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    metricsServer?.close();
    for (const client of clients) await client.close().catch(() => undefined);
  }
}

function reportError(error: unknown): number {
  if (error instanceof ConfigErrors || error instanceof ConfigError || error instanceof SyncRuleError) {
    process.stderr.write(`${error.message}\n`);
    return EXIT.invalidConfig;
  }
  if (error instanceof CanceledError) {
    process.stderr.write("canceled\n");
    return EXIT.canceled;
  }
  if (error instanceof PgSearchError) {
    process.stderr.write(`error: ${error.message}\n`);
    return error.code === "sync_rule_invalid" || error.code === "source_unknown_tables"
      ? EXIT.invalidConfig
      : EXIT.syncFailed;
  }
  process.stderr.write(`unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.syncFailed;
}

await program.parseAsync(process.argv);
