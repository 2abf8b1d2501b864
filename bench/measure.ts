import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

/** CPU seconds used so far by processes whose command line matches, from /proc (Linux). */
function cpuSecondsOf(match: (cmdline: string) => boolean): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (!match(cmdline)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime + stime, plus cutime + cstime: a parent (the postmaster) accounts for its exited children
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100;
}

/** Where the machine's CPU went during a phase: the answer to "what holds the sync back". */
export interface CpuSeconds {
  elasticsearch: number;
  postgres: number;
  pgsearch: number;
}

function cpuNow(): CpuSeconds {
  const self = process.cpuUsage();
  return {
    elasticsearch: cpuSecondsOf(
      (c) => c.includes("org.elasticsearch.bootstrap") || c.includes("org.elasticsearch.server"),
    ),
    postgres: cpuSecondsOf((c) => c.startsWith("postgres") || c.includes("/bin/postgres")),
    pgsearch: (self.user + self.system) / 1e6,
  };
}

export interface PhaseResult {
  phase: string;
  docs: number;
  bytes: number;
  seconds: number;
  docsPerSecond: number;
  mbPerSecond: number;
  peakRssMb: number;
  eventLoopLagP99Ms: number;
  cpuSeconds: CpuSeconds;
}

/** Runs `work` and reports throughput, peak RSS (sampled every 50 ms) and event-loop lag p99. */
export async function measure(
  phase: string,
  work: () => Promise<{ docs: number; bytes: number }>,
): Promise<PhaseResult> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);
  lag.enable();
  const cpuBefore = cpuNow();
  const started = process.hrtime.bigint();
  try {
    const { docs, bytes } = await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return {
      phase,
      docs,
      bytes,
      seconds: round(seconds, 2),
      docsPerSecond: Math.round(docs / seconds),
      mbPerSecond: round(bytes / 2 ** 20 / seconds, 1),
      peakRssMb: Math.round(peakRss / 2 ** 20),
      eventLoopLagP99Ms: round(lag.percentile(99) / 1e6, 1),
      cpuSeconds: ((after) => ({
        elasticsearch: round(after.elasticsearch - cpuBefore.elasticsearch, 1),
        postgres: round(after.postgres - cpuBefore.postgres, 1),
        pgsearch: round(after.pgsearch - cpuBefore.pgsearch, 1),
      }))(cpuNow()),
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
