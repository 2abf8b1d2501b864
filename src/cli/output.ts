import Table from "cli-table3";
import type { SyncResult } from "../sync/sync-engine.js";

/** Tables without colours: they end up in logs and pipes as often as on terminals. */
export const PLAIN = { head: [], border: [] };

export function printResult(result: SyncResult, json: boolean): void {
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
