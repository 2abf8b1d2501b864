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

export async function runValidate(path: string): Promise<number> {
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
    const engine = wired.es.engine === "opensearch" ? "OpenSearch " : "";
    process.stdout.write(`elasticsearch: ok (${engine}${wired.es.version})
`);
    for (const warning of await wired.source.roleWarnings())
      process.stdout.write(`warning: ${warning}
`);
    const plan = await wired.source.plan(rules.advanced);
    process.stdout.write(`streams: ${plan.streams.length} to sync, ${plan.skipped.length} skipped\n`);
    for (const s of plan.skipped) process.stdout.write(`  skipped ${s.table}: ${s.reason}\n`);
    const documents = await new SearchIndex(wired.es.client, config.indexName).count().catch(() => 0);
    assertSelectsSomething(plan, documents, config.indexName, rules.advanced.length > 0);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    await close();
  }
}

export async function runTables(path: string): Promise<number> {
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
