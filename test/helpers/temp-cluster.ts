/**
 * A second, throwaway PostgreSQL cluster for tests that need different server settings (e.g.
 * track_commit_timestamp = off). Real server binaries, like the stack's; loopback only.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";

const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface TempCluster {
  port: number;
  user: string;
  password: string;
  database: string;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === "string") reject(new Error("no port"));
        else resolve(address.port);
      });
    });
  });
}

/** Whether this process may start one (it runs initdb as the postgres user, so it must be root). */
export function canStartTempCluster(): boolean {
  return process.getuid?.() === 0;
}

export async function startTempCluster(settings: Record<string, string>): Promise<TempCluster> {
  const dir = mkdtempSync("/tmp/pgsearch-cluster-");
  chmodSync(dir, 0o777);
  const data = `${dir}/data`;
  const port = await freePort();
  const asPostgres = (command: string, args: string[]): string =>
    execFileSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/${command}`, ...args], {
      encoding: "utf8",
      stdio: "pipe",
    });
  asPostgres("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]);
  const options = [
    `-c listen_addresses=127.0.0.1`,
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
  ];
  for (const [key, value] of Object.entries(settings)) options.push(`-c ${key}=${value}`);
  asPostgres("pg_ctl", ["-D", data, "-l", `${dir}/log`, "-w", "-o", options.join(" "), "start"]);
  const stop = (): void => {
    try {
      asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    execFileSync(
      "runuser",
      [
        "-u",
        "postgres",
        "--",
        "psql",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-qc",
        "CREATE DATABASE pgsearch_tmp",
      ],
      {
        stdio: "pipe",
      },
    );
  } catch (error) {
    stop();
    throw error;
  }
  return { port, user: "postgres", password: "unused-trust-auth", database: "pgsearch_tmp", stop };
}
