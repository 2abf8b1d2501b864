/** Bench summary (medians over repetitions, the ratios the targets are stated in) and the table. */
import type { IndexSize } from "./index-size.js";
import { round, type PhaseResult } from "./measure.js";

export interface PhaseSummary {
  tool: string;
  phase: string;
  runs: number;
  seconds: number;
  rowsPerSecond: number;
  docsPerSecond: number;
  docsSent: number;
  toolCpuSeconds: number;
  /** The tool's CPU-seconds per million rows handled (read, or sent for the ceiling). */
  cpuPerMillion: number;
  peakRssMb: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

export function summarize(phases: PhaseResult[]): {
  phases: PhaseSummary[];
  ratios: Record<string, number | null>;
} {
  const groups = new Map<string, PhaseResult[]>();
  for (const p of phases)
    groups.set(`${p.tool}\u0000${p.phase}`, [...(groups.get(`${p.tool}\u0000${p.phase}`) ?? []), p]);
  const out: PhaseSummary[] = [];
  for (const runs of groups.values()) {
    const first = runs[0];
    if (first === undefined) continue;
    const m = (f: (p: PhaseResult) => number): number => median(runs.map(f));
    const handled = Math.max(
      m((p) => p.rowsRead),
      m((p) => p.docsSent),
    );
    out.push({
      tool: first.tool,
      phase: first.phase,
      runs: runs.length,
      seconds: round(
        m((p) => p.seconds),
        2,
      ),
      rowsPerSecond: Math.round(m((p) => p.rowsPerSecond)),
      docsPerSecond: Math.round(m((p) => p.docsPerSecond)),
      docsSent: Math.round(m((p) => p.docsSent)),
      toolCpuSeconds: round(
        m((p) => p.cpuSeconds.tool),
        1,
      ),
      cpuPerMillion: handled > 0 ? round((m((p) => p.cpuSeconds.tool) / handled) * 1e6, 1) : 0,
      peakRssMb: Math.max(...runs.map((p) => p.peakRssMb)),
    });
  }
  const find = (tool: string, phase: string): PhaseSummary | undefined =>
    out.find((s) => s.tool === tool && s.phase === phase);
  const full = find("pgsearch", "pgsearch full sync");
  const ceiling = find("raw _bulk", "ceiling: raw _bulk");
  const ratio = (a?: number, b?: number): number | null =>
    a !== undefined && b !== undefined && b > 0 ? round(a / b, 2) : null;
  return {
    phases: out,
    ratios: {
      syncToCeiling: ratio(full?.docsPerSecond, ceiling?.docsPerSecond),
      resyncUnchangedToFull: ratio(find("pgsearch", "re-sync, unchanged")?.seconds, full?.seconds),
      resyncChangedToFull: ratio(find("pgsearch", "re-sync, 1% changed")?.seconds, full?.seconds),
      incrementalUnchangedToFull: ratio(find("pgsearch", "incremental, unchanged")?.seconds, full?.seconds),
      incrementalChangedToFull: ratio(find("pgsearch", "incremental, 1% changed")?.seconds, full?.seconds),
    },
  };
}

const pad = (v: unknown, n: number): string => String(v).padStart(n);

export function printTable(
  size: string,
  phases: PhaseResult[],
  summary: ReturnType<typeof summarize>,
  sizes: IndexSize[],
): void {
  const rows = phases.map(
    (p) =>
      `| ${p.tool.padEnd(10)} | ${p.phase.padEnd(22)} | ${p.rep} | ${pad(p.rowsRead, 8)} | ${pad(p.docsSent, 8)} | ${pad(p.seconds, 7)} | ${pad(p.rowsPerSecond, 7)} | ${pad(p.docsPerSecond, 7)} | ${pad(p.cpuSeconds.tool, 5)} / ${p.cpuSeconds.elasticsearch} / ${p.cpuSeconds.postgres} | ${pad(p.peakRssMb, 4)} | ${p.load[0]}–${p.load[1]} |`,
  );
  const sums = summary.phases.map(
    (s) =>
      `| ${s.tool.padEnd(10)} | ${s.phase.padEnd(22)} | ${s.runs} | ${pad(s.seconds, 7)} | ${pad(s.rowsPerSecond, 7)} | ${pad(s.docsPerSecond, 7)} | ${pad(s.toolCpuSeconds, 5)} | ${pad(s.cpuPerMillion, 5)} | ${pad(s.peakRssMb, 4)} |`,
  );
  const sizeRows = sizes.map(
    (s) =>
      `| ${s.index} | ${s.docs} | ${s.storeMb} | ${s.analysedMb} | ${s.bookkeepingMb} | ${round(s.bookkeepingShare * 100, 1)}% |`,
  );
  process.stdout.write(
    [
      `\n### ${size}: every run`,
      "| tool | phase | rep | rows read | docs sent | s | rows/s | docs/s | CPU s: tool / ES / PG | RSS MB | load 1m |",
      "|---|---|--:|--:|--:|--:|--:|--:|---|--:|---|",
      ...rows,
      `\n### ${size}: medians`,
      "| tool | phase | runs | s | rows/s | docs/s | tool CPU s | CPU s / M rows | peak RSS MB |",
      "|---|---|--:|--:|--:|--:|--:|--:|--:|",
      ...sums,
      `\n### ${size}: index size`,
      "| index | docs | store MB | analysed MB | _pgsearch + _timestamp MB | share |",
      "|---|--:|--:|--:|--:|--:|",
      ...sizeRows,
      `\nratios: ${JSON.stringify(summary.ratios)}\n`,
    ].join("\n"),
  );
}
