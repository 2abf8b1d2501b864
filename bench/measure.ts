import { monitorEventLoopDelay } from "node:perf_hooks";

export interface PhaseResult {
  phase: string;
  docs: number;
  bytes: number;
  seconds: number;
  docsPerSecond: number;
  mbPerSecond: number;
  peakRssMb: number;
  eventLoopLagP99Ms: number;
}

/** Runs `work` and reports throughput, peak RSS (sampled every 50 ms) and event-loop lag p99. */
export async function measure(
  phase: string,
  work: () => Promise<{ docs: number; bytes: number }>,
): Promise<PhaseResult> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  lag.enable();
  const started = process.hrtime.bigint();
  try {
    const { docs, bytes } = await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return {
      phase,
      docs,
      bytes,
      seconds: round(seconds, 2),
      docsPerSecond: Math.round(docs / seconds),
      mbPerSecond: round(bytes / 2 ** 20 / seconds, 1),
      peakRssMb: Math.round(peakRss / 2 ** 20),
      eventLoopLagP99Ms: round(lag.percentile(99) / 1e6, 1),
    };
  } finally {
    clearInterval(sampler);
    lag.disable();
  }
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
