/**
 * Authentication against a node with Elasticsearch's real security module (x-pack-security, file
 * realm), started by scripts/es-secure.sh: wrong credentials are refused by Elasticsearch itself,
 * and pgsearch says so without printing them.
 */
import { Client } from "@elastic/elasticsearch";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobDocument } from "../../src/service/protocol.js";
import { runCliAsync } from "../helpers/cli.js";
import { saveConnectorForm, stackConnectorValues } from "../helpers/connectors.js";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { adminClient, uniqueName } from "../helpers/stack.js";

const SECURE_URL = "http://127.0.0.1:59210";
const USER = "pgsearch-admin";
const PASSWORD = "pgsearch-secure-pw";
const dir = mkdtempSync(join(tmpdir(), "pgsearch-secure-"));
const schema = uniqueName("secure");
let secure: Client;
let admin: pg.Client;

function config(name: string, credentials: string[], connectorId = "unused", connectorKey?: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      "elasticsearch:",
      `  host: ${SECURE_URL}`,
      ...credentials.map((line) => `  ${line}`),
      "service.idling: 0.5",
      "connectors:",
      `  - connector_id: ${connectorId}`,
      "    service_type: postgresql",
      ...(connectorKey === undefined ? [] : [`    api_key: ${connectorKey}`]),
    ].join("\n"),
  );
  return path;
}

beforeAll(async () => {
  // Starts the security-enabled node (a no-op when it runs already).
  const started = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const child = spawn("bash", ["scripts/es-secure.sh", "up"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("exit", (code) => {
      resolve({ code, err });
    });
  });
  expect(started.code, started.err).toBe(0);
  secure = new Client({ node: SECURE_URL, auth: { username: USER, password: PASSWORD } });
  admin = await adminClient();
  await createReferenceTables(admin, schema);
}, 300_000);

afterAll(async () => {
  await dropSchema(admin, schema);
  await admin.end();
  await secure.close();
});

describe("credentials checked by Elasticsearch's security module", () => {
  it("the right username and password work", async () => {
    const listed = await runCliAsync(
      "connector",
      "list",
      "-c",
      config("right.yml", [`username: ${USER}`, `password: ${PASSWORD}`]),
    );
    expect(listed.status, listed.stderr).toBe(0);
  });

  it("a wrong password is refused with Elasticsearch's 401, and not printed", async () => {
    const wrong = "Wrong-Password-4711";
    const listed = await runCliAsync(
      "connector",
      "list",
      "-c",
      config("wrong-pw.yml", [`username: ${USER}`, `password: ${wrong}`]),
    );
    expect(listed.status).not.toBe(0);
    expect(listed.stderr).toMatch(/401 security_exception: unable to authenticate user \[pgsearch-admin\]/);
    expect(listed.stderr).toContain("check api_key, or username and password");
    expect(listed.stdout + listed.stderr).not.toContain(wrong);
  });

  it("a wrong api_key is refused with Elasticsearch's 401, and not printed", async () => {
    const key = Buffer.from("not-an-id:not-a-key").toString("base64");
    const served = await runCliAsync("serve", "-c", config("wrong-key.yml", [`api_key: ${key}`]));
    expect(served.status).toBe(1);
    expect(served.stderr).toMatch(/401 security_exception/);
    expect(served.stdout + served.stderr).not.toContain(key);
  });

  it(
    "a connector's wrong api_key fails its job with Elasticsearch's 401; the service's own credentials do the rest",
    { timeout: 180_000 },
    async () => {
      const connectorId = uniqueName("secure-conn").replaceAll("_", "-");
      const key = Buffer.from("wrong-id:wrong-key").toString("base64");
      const path = config(
        "connector-key.yml",
        [`username: ${USER}`, `password: ${PASSWORD}`],
        connectorId,
        key,
      );
      const created = await runCliAsync(
        "connector",
        "create",
        "-c",
        path,
        "--id",
        connectorId,
        "-i",
        `search-${connectorId}`,
      );
      expect(created.status, created.stderr).toBe(0);
      await saveConnectorForm(secure, connectorId, stackConnectorValues(schema, { tables: "employee" }));
      const started = await runCliAsync("job", "start", "-i", connectorId, "-c", path);
      expect(started.status, started.stderr).toBe(0);
      const jobId = started.stdout.trim();
      const service = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "-c", path], {
        env: process.env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let logs = "";
      service.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
      let job: JobDocument | undefined;
      try {
        for (;;) {
          job = (await secure.get<JobDocument>({ index: ".elastic-connectors-sync-jobs", id: jobId }))
            ._source;
          if (job?.status === "completed" || job?.status === "error") break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      } finally {
        service.kill("SIGTERM");
        await new Promise((resolve) => service.once("exit", resolve));
      }
      expect(job.status, logs).toBe("error");
      expect(job.error).toMatch(/401|security_exception/);
      expect(job.error).not.toContain(key);
      expect(logs).not.toContain(key);
    },
  );
});
