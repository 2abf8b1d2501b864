import Table from "cli-table3";
import { loadAppConfig } from "../config/index.js";
import { createLogger } from "../observability/logger.js";
import { SearchIndex } from "../sink/search-index.js";
import { connectionFactory } from "../source/connection.js";
import { dropSlot } from "../sync/follow.js";
import { prepareRules } from "../sync/prepare.js";
import { assertSelectsSomething } from "../sync/sync-plan.js";
import { EXIT, reportError } from "./exit-codes.js";
import { PLAIN } from "./output.js";
import { wireStandalone } from "./wiring.js";

export async function runValidate(path: string, json = false): Promise<number> {
  const logger = await createLogger({ level: "error" });
  let close = (): Promise<void> => Promise.resolve();
  // Text lines as each check passes; with --json one object at the end.
  const report: Record<string, unknown> = {};
  const say = (key: string, value: unknown, line: string): void => {
    report[key] = value;
    if (!json) process.stdout.write(`${line}\n`);
  };
  try {
    const config = loadAppConfig(path);
    say("configuration", "ok", "configuration: ok");
    const rules = await prepareRules(config.syncRules);
    say(
      "syncRules",
      { advanced: rules.advanced.length },
      `sync rules: ok (${rules.advanced.length} advanced)`,
    );
    const wired = await wireStandalone(config, logger);
    close = wired.close;
    const server = await wired.source.ping();
    say(
      "postgresql",
      server,
      `postgresql: ok (${server.version}, track_commit_timestamp ${server.commitTimestamps ? "on" : "off"})`,
    );
    const engine = wired.es.engine === "opensearch" ? "OpenSearch " : "";
    say(
      "elasticsearch",
      { engine: wired.es.engine, version: wired.es.version },
      `elasticsearch: ok (${engine}${wired.es.version})`,
    );
    const warnings = await wired.source.roleWarnings();
    report.warnings = warnings;
    if (!json) for (const warning of warnings) process.stdout.write(`warning: ${warning}\n`);
    const plan = await wired.source.plan(rules.advanced);
    say(
      "streams",
      { toSync: plan.streams.map((st) => st.id), skipped: plan.skipped },
      `streams: ${plan.streams.length} to sync, ${plan.skipped.length} skipped` +
        plan.skipped.map((sk) => `\n  skipped ${sk.table}: ${sk.reason}`).join(""),
    );
    const documents = await new SearchIndex(wired.es.client, config.indexName).count().catch(() => 0);
    assertSelectsSomething(plan, documents, config.indexName, rules.advanced.length > 0);
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    await close();
  }
}

export async function runTables(path: string, json = false): Promise<number> {
  const logger = await createLogger({ level: "error" });
  let close = (): Promise<void> => Promise.resolve();
  try {
    const config = loadAppConfig(path);
    const rules = await prepareRules(config.syncRules);
    const wired = await wireStandalone(config, logger);
    close = wired.close;
    const plan = await wired.source.plan(rules.advanced);
    if (json) {
      const rows = [
        ...plan.streams.map((st) => ({
          stream: st.id,
          key: st.keyIndexes.map((i) => st.columns[i]?.name ?? "?"),
          columns: st.columns.length,
          estimatedRows: st.estimatedRows < 0 ? null : st.estimatedRows,
          status: "sync",
        })),
        ...plan.skipped.map((sk) => ({ stream: sk.table, status: "skipped", reason: sk.reason })),
      ];
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return EXIT.ok;
    }
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

/** `slot drop`: drops the replication slot of --follow and its publication. */
export async function runSlotDrop(opts: { config: string; slot: string }): Promise<number> {
  try {
    const config = loadAppConfig(opts.config);
    const admin = await connectionFactory(config.source).connect();
    try {
      const dropped = await dropSlot(admin, opts.slot, opts.slot);
      process.stdout.write(dropped ? `dropped slot ${opts.slot}\n` : `no slot named ${opts.slot}\n`);
    } finally {
      await admin.end();
    }
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  }
}
