import { spawnSync } from "node:child_process";

/** Runs the real CLI (`src/cli/main.ts` through tsx) as a user would, with the test environment. */
export function runCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    env: process.env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
