import { Command, Option } from "@commander-js/extra-typings";
import { addManagementCommands } from "./manage.js";
import { reportError } from "./exit-codes.js";

/**
 * The command tree. Each action imports its implementation when it runs, so `--help`,
 * `--version` and light commands do not pay for the Elasticsearch client and the driver.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name("pgsearch")
    .description("Keep Elasticsearch search indices in sync with PostgreSQL.")
    .version("0.1.0")
    .showHelpAfterError()
    // Usage errors throw (main.ts exits 2) instead of exiting 1, which means "sync failed".
    .exitOverride();
  addSyncCommand(program);
  addInspectCommands(program);
  addManagementCommands(program, (error) => reportError(error));
  addServeCommand(program);
  addConfigCommands(program);
  return program;
}

const configOption = () =>
  new Option("-c, --config <file>", "YAML configuration file").default("connector.yml");

function addSyncCommand(program: Command): void {
  program
    .command("sync")
    .description("copy the configured tables into the index and delete documents whose rows are gone")
    .addOption(configOption())
    .option("--incremental", "send only rows committed since the last sync (needs track_commit_timestamp)")
    .option("--no-resume", "start from scratch even if an interrupted sync left a checkpoint")
    .option(
      "--allow-mass-delete",
      "let the delete pass remove more than sync.max_delete_percent of the index",
    )
    .option(
      "--follow",
      "after the sync, stream changes continuously through logical replication (Ctrl-C stops)",
    )
    .option("--slot <name>", "replication slot (and publication) name for --follow", "pgsearch")
    .option("--json", "print the result as JSON on stdout")
    .option("--log-level <level>", "debug, info, warning, error", "warning")
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics (/metrics, /healthz, /readyz) while syncing and following",
    )
    .option("--metrics-host <address>", "address the metrics server listens on", "127.0.0.1")
    .action(async (opts) => {
      const { createLogger, normalizeLogLevel } = await import("../observability/logger.js");
      let level: string;
      try {
        level = normalizeLogLevel(opts.logLevel, "--log-level");
      } catch (error) {
        process.exitCode = reportError(error);
        return;
      }
      const { runSync } = await import("./sync-command.js");
      // A person at a terminal reads lines; anything else (pipes, CI, shippers) gets ECS JSON.
      const tty = process.stderr.isTTY;
      process.exitCode = await runSync(opts, await createLogger({ level, human: tty, ecs: !tty }));
    });
}

function addInspectCommands(program: Command): void {
  program
    .command("validate")
    .description("check configuration, sync rules and connectivity without writing anything")
    .addOption(configOption())
    .option("--json", "print the checks as one JSON object on stdout")
    .action(async (opts) => {
      const { runValidate } = await import("./inspect-commands.js");
      process.exitCode = await runValidate(opts.config, opts.json === true);
    });

  program
    .command("tables")
    .description(
      "list what a sync would read: tables, keys, row estimates, and skipped tables with the reason",
    )
    .addOption(configOption())
    .option("--json", "print the streams as a JSON array on stdout")
    .action(async (opts) => {
      const { runTables } = await import("./inspect-commands.js");
      process.exitCode = await runTables(opts.config, opts.json === true);
    });

  program
    .command("slot")
    .description("replication slot of --follow")
    .command("drop")
    .description("drop the replication slot and its publication (PostgreSQL then stops retaining WAL for it)")
    .addOption(configOption())
    .option("--slot <name>", "slot name", "pgsearch")
    .action(async (opts) => {
      const { runSlotDrop } = await import("./inspect-commands.js");
      process.exitCode = await runSlotDrop(opts);
    });
}

function addServeCommand(program: Command): void {
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
    .option("--metrics-port <port>", "serve Prometheus metrics (/metrics, /healthz, /readyz) on this port")
    .option(
      "--metrics-host <address>",
      "address the metrics server listens on (0.0.0.0 in the image)",
      "127.0.0.1",
    )
    .action(async (opts) => {
      const o = opts;
      const { runServe } = await import("./serve-command.js");
      process.exitCode = await runServe(o.configFile ?? o.config, o.debug === true ? "debug" : o.logLevel, {
        port: o.metricsPort,
        host: o.metricsHost,
      });
    });
}

function addConfigCommands(program: Command): void {
  const config = program.command("config").description("configuration helpers");
  config
    .command("docs")
    .description("rewrite the generated key tables of a Markdown file (docs/configuration.md)")
    .argument("<file>", "Markdown file with <!-- keys:NAME --> blocks")
    .option("--check", "change nothing; exit 1 when the file is not current")
    .action(async (file, opts) => {
      const { readFileSync, writeFileSync } = await import("node:fs");
      const { rewriteKeyTables } = await import("../config/docs.js");
      const text = readFileSync(file, "utf8");
      const current = rewriteKeyTables(text);
      if (current === text) return;
      if (opts.check === true) {
        process.stderr.write(`${file}: key tables are out of date; run pgsearch config docs ${file}\n`);
        process.exitCode = 1;
      } else writeFileSync(file, current);
    });
  config
    .command("schema")
    .description("print the JSON Schema of the YAML configuration file")
    .action(async () => {
      const { appConfigJsonSchema } = await import("../config/index.js");
      process.stdout.write(`${JSON.stringify(appConfigJsonSchema(), null, 2)}\n`);
    });
}
