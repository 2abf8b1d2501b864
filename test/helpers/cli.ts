import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack } from "./stack.js";

/** Runs the real CLI (`src/cli/main.ts` through tsx) as a user would, with the test environment. */
export function runCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    env: process.env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** runCli without blocking the event loop: for tests whose servers run in this process. */
export async function runCliAsync(
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    env: process.env,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { status, stdout, stderr };
}

/** A config file for the CLI pointing at the test stack (password from $PGPASSWORD); returns its path. */
export function writeStackConfig(options: {
  index: string;
  schema: string;
  extra?: string[];
  /** Another search server (OpenSearch), and the block naming it. */
  host?: string;
  block?: "elasticsearch" | "opensearch";
}): string {
  const path = join(mkdtempSync(join(tmpdir(), "pgsearch-config-")), "config.yml");
  const lines = [
    `${options.block ?? "elasticsearch"}:`,
    `  host: ${options.host ?? stack.esUrl()}`,
    `index_name: ${options.index}`,
    "configuration:",
    `  host: ${stack.pgHost()}`,
    `  port: ${stack.pgPort()}`,
    `  username: ${stack.pgUser()}`,
    "  password: ${PGPASSWORD}",
    `  database: ${stack.pgDatabase()}`,
    `  schema: ${options.schema}`,
    ...(options.extra ?? []),
  ];
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/** `pgsearch serve -c configPath` as a child process; its stderr (the ECS log lines) is kept. */
export function startServe(
  configPath: string,
  ...args: string[]
): { logs: () => string; stop: () => Promise<number | null> } {
  const service = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "serve", "-c", configPath, ...args],
    { env: process.env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let logs = "";
  service.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => service.once("exit", resolve));
  return {
    logs: () => logs,
    stop: async () => {
      service.kill("SIGTERM");
      return exited;
    },
  };
}
