import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceTables, dropSchema } from "../helpers/fixtures.js";
import { runCli } from "../helpers/cli.js";
import { adminClient, stack, uniqueName } from "../helpers/stack.js";

let admin: pg.Client;
const schema = uniqueName("cli");
const dir = mkdtempSync(join(tmpdir(), "pgsearch-cli-"));

function writeConfig(name: string, configuration: string, extra = ""): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `elasticsearch:\n  host: ${stack.esUrl()}\nindex_name: ${schema.replaceAll("_", "-")}\nconfiguration:\n${configuration}${extra}`,
  );
  return path;
}

const goodConfiguration = (): string =>
  [
    `  host: ${stack.pgHost()}`,
    `  port: ${stack.pgPort()}`,
    `  username: ${stack.pgUser()}`,
    "  password: ${PGPASSWORD}",
    `  database: ${stack.pgDatabase()}`,
    `  schema: ${schema}`,
    "",
  ].join("\n");

const cli = runCli;

beforeAll(async () => {
  admin = await adminClient();
  await createReferenceTables(admin, schema);
  await admin.query(`CREATE TABLE "${schema}".audit (at timestamptz, what text)`);
});

afterAll(async () => {
  await dropSchema(admin, schema);
  await admin.end();
});

describe("the pgsearch command", () => {
  it("validate: checks config, rules and both servers, and exits 0", () => {
    const result = cli("validate", "--config", writeConfig("ok.yml", goodConfiguration()));
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/configuration: ok/);
    expect(result.stdout).toMatch(/postgresql: ok \(15\.\d+.*track_commit_timestamp on\)/);
    expect(result.stdout).toMatch(/elasticsearch: ok \((8|9)\./);
    expect(result.stdout).toMatch(new RegExp(`skipped ${schema}\\.audit: has no primary key`));
    expect(result.status).toBe(0);
  });

  it("validate: an invalid file exits 2 naming each field and line, never the password", () => {
    const bad = writeConfig(
      "bad.yml",
      `  host: ${stack.pgHost()}\n  port: 99999\n  username: x\n  password: TopSecret-123\n  database: d\n  schema: s\n  tabels: "*"\n`,
    );
    const result = cli("validate", "--config", bad);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /bad\.yml:6 configuration\.port: must be an integer between 1 and 65535, got 99999/,
    );
    expect(result.stderr).toMatch(
      /bad\.yml:11 configuration\.tabels: unknown field \(did you mean "tables"\?\)/,
    );
    expect(result.stdout + result.stderr).not.toContain("TopSecret-123");
  });

  it("validate: a wrong password exits 1 with a hint and without the password", () => {
    const result = cli(
      "validate",
      "--config",
      writeConfig("pw.yml", goodConfiguration().replace("${PGPASSWORD}", "Wrong-Pass-42")),
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cannot connect to PostgreSQL .*check username and password/);
    expect(result.stdout + result.stderr).not.toContain("Wrong-Pass-42");
  });

  it("validate: a data-modifying advanced rule exits 2 naming the rule", () => {
    const path = writeConfig(
      "rules.yml",
      goodConfiguration(),
      'sync_rules:\n  advanced: \'[{"tables": ["employee"], "query": "DELETE FROM employee"}]\'\n',
    );
    const result = cli("validate", "--config", path);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /sync rule advanced\[0\]: the query must be a SELECT, found a DELETE statement/,
    );
  });

  it("tables: lists what would be synced with keys, and what is skipped with the reason", () => {
    const result = cli("tables", "--config", writeConfig("tables.yml", goodConfiguration()));
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`${schema}\\.employee\\s*│\\s*emp_id`));
    expect(result.stdout).toMatch(new RegExp(`${schema}\\.audit.*skipped: has no primary key`));
  });

  it("tables --json and validate --json: the same facts as one JSON document on stdout", () => {
    const path = writeConfig("tables-json.yml", goodConfiguration());
    const tables = cli("tables", "--config", path, "--json");
    expect(tables.status).toBe(0);
    const rows = JSON.parse(tables.stdout) as {
      stream: string;
      key?: string[];
      status: string;
      reason?: string;
    }[];
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stream: `${schema}.employee`, key: ["emp_id"], status: "sync" }),
        expect.objectContaining({ stream: `${schema}.audit`, status: "skipped" }),
      ]),
    );
    const validate = cli("validate", "--config", path, "--json");
    expect(validate.status).toBe(0);
    expect(JSON.parse(validate.stdout)).toMatchObject({
      configuration: "ok",
      elasticsearch: { version: expect.any(String) as string },
    });
  });

  it("config schema: prints a JSON Schema", () => {
    const result = cli("config", "schema");
    expect(result.status).toBe(0);
    const schemaJson = JSON.parse(result.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schemaJson.properties)).toEqual([
      "elasticsearch",
      "opensearch",
      "index_name",
      "configuration",
      "sync_rules",
      "sync",
      "follow",
    ]);
  });

  // Each refused preflight takes ~9 s (the client's retries with backoff), five CLI runs in all:
  // the hang guard leaves room for a loaded machine.
  it(
    "serve takes Elastic's elastic-ingest flags: --config-file, --log-level WARNING, --debug, --filebeat",
    { timeout: 240_000 },
    () => {
      const path = join(dir, "elastic-config.yml");
      // Nothing listens on port 9: the flags are parsed, the file is read, then the preflight fails.
      writeFileSync(
        path,
        [
          "elasticsearch:",
          "  host: http://127.0.0.1:9",
          "service.log_level: INFO",
          "connectors:",
          "  - connector_id: c1",
          "    service_type: postgresql",
        ].join("\n"),
      );
      for (const flags of [["--log-level", "WARNING", "--filebeat"], ["--debug"], []]) {
        const result = cli("serve", "--config-file", path, ...flags);
        expect(result.status, result.stderr).toBe(1);
        expect(result.stderr).toContain("cannot reach Elasticsearch at http://127.0.0.1:9");
      }
      const wrong = cli("serve", "--config-file", path, "--log-level", "LOUD");
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toMatch(
        /--log-level: must be one of debug, info, warning, error, critical; got "LOUD"/,
      );
      writeFileSync(path, ["service.log_level: CHATTY", "connectors:", "  - connector_id: c1"].join("\n"));
      expect(cli("serve", "-c", path).stderr).toMatch(/service\.log_level: must be one of/);
    },
  );
});
