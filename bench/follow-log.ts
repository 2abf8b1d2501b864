/**
 * Reads the follower's debug lines (`--log-level debug`, ECS JSON on stderr): per-batch timings
 * ("batch applied") and start-up steps ("follow start-up"), to say which wait dominates the lag
 * and where a restart's seconds go.
 */
import { round } from "./measure.js";

const TIMING_NAMES = ["streamMs", "bufferMs", "connectMs", "rereadMs", "writeMs", "ackMs"] as const;
type TimingName = (typeof TIMING_NAMES)[number];

interface BatchLine {
  keys: number;
  timings: Partial<Record<TimingName, number>>;
  sinceStartMs: number;
}

export class FollowerLog {
  readonly batches: BatchLine[] = [];
  readonly steps: { step: string; sinceStartMs: number }[] = [];
  private partial = "";

  /** Feeds a chunk of stderr; calls `onLine` with each complete line. */
  feed(chunk: string, onLine: (line: string) => void): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      onLine(line);
      this.parse(line);
    }
  }

  private parse(line: string): void {
    if (!line.startsWith("{")) return;
    let entry: { message?: string; pgsearch?: Record<string, unknown> };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return;
    }
    const fields = entry.pgsearch ?? {};
    const sinceStartMs = Number(fields.since_start_ms);
    if (entry.message === "batch applied") {
      this.batches.push({
        keys: Number(fields.keys),
        timings: fields.timings ?? {},
        sinceStartMs,
      });
    } else if (entry.message === "follow start-up") {
      this.steps.push({ step: String(fields.step), sinceStartMs });
    }
  }

  /** Per timing: total seconds over all batches, and the batches' p50/p99/max in ms. */
  summary(): Record<string, unknown> {
    const perTiming: Record<string, unknown> = {};
    for (const name of TIMING_NAMES) {
      const values = this.batches.map((b) => b.timings[name] ?? 0).sort((a, b) => a - b);
      perTiming[name] = {
        totalSeconds: round(values.reduce((a, b) => a + b, 0) / 1000, 1),
        p50: Math.round(percentile(values, 50)),
        p99: Math.round(percentile(values, 99)),
        max: Math.round(values.at(-1) ?? 0),
      };
    }
    const keys = this.batches.map((b) => b.keys).sort((a, b) => a - b);
    return {
      batches: this.batches.length,
      keysPerBatch: { p50: percentile(keys, 50), max: keys.at(-1) ?? 0 },
      ...perTiming,
    };
  }

  /** Start-up steps and the first applied batch, in seconds since the follower's process started. */
  startup(): Record<string, number> {
    const steps: Record<string, number> = {};
    for (const { step, sinceStartMs } of this.steps) steps[step] ??= round(sinceStartMs / 1000, 2);
    const first = this.batches[0];
    if (first !== undefined) steps["first batch applied"] = round(first.sinceStartMs / 1000, 2);
    return steps;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
