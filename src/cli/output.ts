import Table from "cli-table3";
import type { SyncResult } from "../sync/sync-engine.js";

/** Tables without colours: they end up in logs and pipes as often as on terminals. */
export const PLAIN = { head: [], border: [] };

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function useColour(stream: { isTTY?: boolean } = process.stdout): boolean {
  return stream.isTTY === true && (process.env.NO_COLOR ?? "") === "";
}

/** The first failures in full, the rest as counts by reason (4,000 identical lines help nobody). */
export function failureLines(
  failures: readonly { id: string; reason: string }[],
  total: number,
  shown = 10,
): string[] {
  const lines = failures.slice(0, shown).map((f) => `failed: id ${f.id}: ${f.reason}`);
  if (total <= shown) return lines;
  const counts = new Map<string, number>();
  for (const f of failures.slice(shown)) {
    const kind = f.reason.split(":")[0]?.trim() ?? f.reason;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const unseen = total - failures.length;
  const byReason = [...counts].map(([kind, n]) => `${n} ${kind}`);
  if (unseen > 0) byReason.push(`${unseen} not kept (only the first ${failures.length} are)`);
  lines.push(`... and ${total - shown} more failed documents: ${byReason.join(", ")}`);
  return lines;
}

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
    ...(useColour() ? {} : { style: PLAIN }),
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
  for (const line of failureLines(result.failures, result.bulk.failed)) out.write(`${line}\n`);
  for (const c of result.collisions.slice(0, 10)) out.write(`collision: ${c.message}\n`);
  for (const o of result.oversize.slice(0, 10)) {
    out.write(`over the size limit: ${o.stream} key ${JSON.stringify(o.key)} (${o.bytes} bytes)\n`);
  }
  if (result.deleteSkippedReason !== undefined && result.status !== "completed")
    out.write(`${result.deleteSkippedReason}\n`);
  if (result.error !== undefined) out.write(`error: ${result.error.message}\n`);
}
