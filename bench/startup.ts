/**
 * Start-up cost of the CLI against bare Node (issue 14: `--version`/`--help` within 2.5x of
 * `node -e 0`). Runs the compiled CLI (builds dist/ first when missing), each command 15 times,
 * and prints the medians and ratios. A benchmark, not a test: `npx tsx bench/startup.ts`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const RUNS = 15;

function medianMs(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { stdio: "ignore" });
    if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${String(result.status)}`);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)] ?? Number.NaN;
}

if (!existsSync("dist/cli/main.js"))
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
const bare = medianMs(["-e", "0"]);
console.log(`node ${process.version}, median of ${RUNS} runs`);
console.log(`node -e 0: ${bare.toFixed(0)} ms`);
for (const args of [["--version"], ["--help"], ["sync", "--help"], ["config", "schema"]]) {
  const ms = medianMs(["bin/pgsearch.js", ...args]);
  console.log(`pgsearch ${args.join(" ")}: ${ms.toFixed(0)} ms, ${(ms / bare).toFixed(2)}x bare node`);
}
