/**
 * Runs one phase in a child process and measures it: wall time, the child's own CPU-seconds and
 * peak RSS (the child reports them, or /usr/bin/time does for a peer), and the CPU Elasticsearch
 * and PostgreSQL spent meanwhile (from /proc). The page cache is dropped before each phase when
 * we may (root), so no phase runs on a cache another one warmed.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ChildReport, PhaseRequest, PhaseWork } from "./phase.js";
import { NODE_FLAGS } from "../src/cli/heap.js";

/** CPU seconds used so far by processes whose command line matches, from /proc (Linux). */
export function cpuSecondsOf(match: (cmdline: string) => boolean): number {
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

// The search server's process: OpenSearch's under `--engine opensearch` (bench.ts sets the variable).
const isElasticsearch = (c: string): boolean =>
  process.env.PGSEARCH_BENCH_ENGINE === "opensearch"
    ? c.includes("org.opensearch.bootstrap")
    : c.includes("org.elasticsearch.bootstrap") || c.includes("org.elasticsearch.server");
const isPostgres = (c: string): boolean => c.startsWith("postgres") || c.includes("/bin/postgres");

export interface PhaseResult extends PhaseWork {
  phase: string;
  tool: string;
  rep: number;
  seconds: number;
  rowsPerSecond: number;
  docsPerSecond: number;
  mbPerSecond: number;
  peakRssMb: number;
  eventLoopLagP99Ms?: number;
  /** The tool's own CPU; Elasticsearch's and PostgreSQL's during the phase. */
  cpuSeconds: { tool: number; elasticsearch: number; postgres: number };
  /** 1-minute load average before and after the phase (the machine is shared). */
  load: [number, number];
  cachesDropped: boolean;
}

/** Drops the kernel page cache (root only). PostgreSQL's shared_buffers stay warm either way. */
export function dropCaches(): boolean {
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

export interface Usage {
  seconds: number;
  cpuSeconds: number;
  maxRssMb: number;
}

export interface TimedProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Settles when the process exits (rejects on a non-zero exit unless `allowFailure`). */
  result: Promise<Usage & { stdout: string; stderr: string }>;
}

/** Starts a command whose rusage /usr/bin/time takes (CPU of it and its children, peak RSS). */
export function startTimed(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; allowFailure?: boolean } = {},
): TimedProcess {
  const out = join(tmpdir(), `pgsearch-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const child = spawn("/usr/bin/time", ["-f", "%e %U %S %M", "-o", out, command, ...args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
  const result = (async () => {
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    if (code !== 0 && options.allowFailure !== true)
      throw new Error(`${command} ${args.join(" ")} exited ${code}:\n${stderr}`);
    const last = (await readFile(out, "utf8")).trim().split("\n").at(-1) ?? "";
    await rm(out, { force: true });
    const [elapsed, user, system, maxKb] = last.split(" ").map(Number);
    return {
      stdout,
      stderr,
      seconds: elapsed ?? 0,
      cpuSeconds: (user ?? 0) + (system ?? 0),
      maxRssMb: (maxKb ?? 0) / 1024,
    };
  })();
  return { child, result };
}

/** Runs a command to completion, its rusage taken by /usr/bin/time. */
export function runTimed(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Usage & { stdout: string; stderr: string }> {
  return startTimed(command, args, options).result;
}

/** Measures `work` (which runs one child process) with the machine-wide CPU around it. */
export async function measurePhase(
  label: { phase: string; tool: string; rep: number },
  work: () => Promise<PhaseWork & Usage & { eventLoopLagP99Ms?: number; extraToolCpu?: number }>,
): Promise<PhaseResult> {
  const cachesDropped = dropCaches();
  const loadBefore = loadavg()[0] ?? 0;
  const es0 = cpuSecondsOf(isElasticsearch);
  const pg0 = cpuSecondsOf(isPostgres);
  const r = await work();
  const es = cpuSecondsOf(isElasticsearch) - es0;
  const pgCpu = cpuSecondsOf(isPostgres) - pg0;
  const { seconds, cpuSeconds, maxRssMb, eventLoopLagP99Ms, extraToolCpu, ...done } = r;
  return {
    ...label,
    ...done,
    seconds: round(seconds, 2),
    rowsPerSecond: Math.round(r.rowsRead / seconds),
    docsPerSecond: Math.round(r.docsSent / seconds),
    mbPerSecond: round(r.bytes / 2 ** 20 / seconds, 1),
    peakRssMb: Math.round(maxRssMb),
    ...(eventLoopLagP99Ms === undefined ? {} : { eventLoopLagP99Ms: round(eventLoopLagP99Ms, 1) }),
    cpuSeconds: {
      tool: round(cpuSeconds + (extraToolCpu ?? 0), 1),
      elasticsearch: round(es, 1),
      postgres: round(pgCpu, 1),
    },
    load: [round(loadBefore, 2), round(loadavg()[0] ?? 0, 2)],
    cachesDropped,
  };
}

/** A directory of the sources compiled by `tsc` (bench --built), or undefined to run them with tsx. */
const BUILT = process.env.PGSEARCH_BENCH_BUILT;

/** One pgsearch phase in its own Node process. */
export async function runChildPhase(
  request: PhaseRequest,
  extraNodeArgs: string[] = [],
): Promise<ChildReport> {
  const child = spawn(
    process.execPath,
    [
      // As the installed commands start (bin/pgsearch.js's first line).
      ...NODE_FLAGS,
      ...extraNodeArgs,
      // Compiled JavaScript when the bench was given --built (as users run it), else tsx.
      ...(BUILT === undefined
        ? ["--import", "tsx", join(import.meta.dirname, "phase.ts")]
        : [join(BUILT, "bench", "phase.js")]),
      JSON.stringify(request),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (code !== 0 || line === undefined) throw new Error(`phase ${request.kind} exited ${code}`);
  return JSON.parse(line.slice("RESULT ".length)) as ChildReport;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
