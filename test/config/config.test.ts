import { describe, expect, it } from "vitest";
import {
  appConfigJsonSchema,
  CONNECTOR_FIELDS,
  DEFAULT_SYNC_OPTIONS,
  defaultConnectorConfiguration,
  parseAppConfig,
  resolvePostgresConfig,
} from "../../src/config/index.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rewriteKeyTables } from "../../src/config/docs.js";
import { ConfigErrors } from "../../src/errors.js";
import { loadServiceConfig } from "../../src/service/service-config.js";

const SECRET = "Pa55-word-that-must-not-leak";
const base = { host: "db.internal", username: "app", password: SECRET, database: "shop", schema: "public" };

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigErrors);
    const text = `${(error as Error).message}${JSON.stringify(error)}`;
    expect(text).not.toContain(SECRET);
    return (error as ConfigErrors).errors.map((e) => e.message);
  }
  throw new Error("expected a configuration error");
}

describe("connector configuration fields (the reference's keys, order and defaults)", () => {
  it("registers the reference's fields first, in order, with its labels and defaults", () => {
    const fields = defaultConnectorConfiguration();
    expect(Object.keys(fields).slice(0, 11)).toEqual([
      "host",
      "port",
      "username",
      "password",
      "database",
      "schema",
      "tables",
      "fetch_size",
      "retry_count",
      "ssl_enabled",
      "ssl_ca",
    ]);
    expect(fields.port).toMatchObject({
      label: "Port",
      type: "int",
      display: "numeric",
      value: 5432,
      order: 2,
      required: true,
    });
    expect(fields.password).toMatchObject({ sensitive: true, order: 4 });
    expect(fields.tables).toMatchObject({ type: "list", display: "textarea", value: "*", order: 7 });
    expect(fields.fetch_size).toMatchObject({
      required: false,
      default_value: 50,
      ui_restrictions: ["advanced"],
    });
    expect(fields.retry_count).toMatchObject({
      required: false,
      default_value: 3,
      ui_restrictions: ["advanced"],
    });
    expect(fields.ssl_ca).toMatchObject({ depends_on: [{ field: "ssl_enabled", value: true }], order: 11 });
    for (const field of Object.values(fields)) expect(field).toHaveProperty("validations", []);
    expect(CONNECTOR_FIELDS.map((f) => f.order)).toEqual(
      [...CONNECTOR_FIELDS.map((f) => f.order)].sort((a, b) => a - b),
    );
  });

  it("applies defaults like the reference", () => {
    const config = resolvePostgresConfig(base);
    expect(config).toMatchObject({
      port: 5432,
      tables: ["*"],
      fetchSize: 50,
      retryCount: 3,
      schemas: ["public"],
      documentMode: "compat",
    });
    expect(config.ssl.enabled).toBe(false);
    expect(config.maxDocumentBytes).toBe(10 * 1024 * 1024);
  });

  it("resolves rich fields (a connector document) the same as plain values", () => {
    const rich = Object.fromEntries(
      Object.entries({ ...base, port: "5433", tables: "a, b,,c " }).map(([k, v]) => [
        k,
        { value: v, label: k },
      ]),
    );
    expect(resolvePostgresConfig(rich)).toEqual(
      resolvePostgresConfig({ ...base, port: 5433, tables: ["a", "b", "c"] }),
    );
  });

  it("names every invalid field and what it expects, without echoing the password", () => {
    const messages = errorsOf(() =>
      resolvePostgresConfig({
        ...base,
        host: "",
        port: "abc",
        fetch_size: 0,
        retry_count: "x",
        ssl_enabled: "maybe",
        tabels: "*",
      }),
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        "configuration.host: 'Host' cannot be empty.",
        'configuration.port: must be an integer between 1 and 65535, got "abc"',
        "configuration.fetch_size: must be an integer between 1 and 100000, got 0",
        'configuration.retry_count: must be an integer between 0 and 100, got "x"',
        'configuration.ssl_enabled: must be true or false, got "maybe"',
        'configuration.tabels: unknown field (did you mean "tables"?)',
      ]),
    );
  });

  it("requires a CA for verified TLS, and a client certificate with its key", () => {
    expect(errorsOf(() => resolvePostgresConfig({ ...base, ssl_enabled: true }))).toEqual([
      "configuration.ssl_ca: 'SSL certificate' cannot be empty when ssl_mode is verify-full.",
    ]);
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    expect(
      errorsOf(() => resolvePostgresConfig({ ...base, ssl_enabled: true, ssl_ca: pem, ssl_cert: pem })),
    ).toEqual(["configuration.ssl_key: ssl_cert and ssl_key must be given together"]);
    expect(resolvePostgresConfig({ ...base, ssl_enabled: true, ssl_mode: "require" }).ssl).toEqual({
      enabled: true,
      mode: "require",
    });
    // ssl_ca is ignored when SSL is off (depends_on unmet).
    expect(
      resolvePostgresConfig({ ...base, ssl_enabled: false, ssl_ca: "not a pem" }).ssl.ca,
    ).toBeUndefined();
  });

  it("re-flows a PEM pasted on one line", () => {
    const body = "A".repeat(100);
    const config = resolvePostgresConfig({
      ...base,
      ssl_enabled: true,
      ssl_ca: `-----BEGIN CERTIFICATE----- ${body} -----END CERTIFICATE-----`,
    });
    expect(config.ssl.ca).toBe(
      `-----BEGIN CERTIFICATE-----\n${"A".repeat(64)}\n${"A".repeat(36)}\n-----END CERTIFICATE-----\n`,
    );
  });
});

describe("the YAML file", () => {
  const yaml = (body: string): string =>
    `elasticsearch:\n  host: http://127.0.0.1:9200\nindex_name: search-shop\n${body}`;
  const configuration =
    "configuration:\n  host: db\n  username: app\n  password: ${DB_PASSWORD}\n  database: shop\n  schema: public\n";

  it("substitutes ${ENV} and ${ENV:-default}", () => {
    const config = parseAppConfig(yaml(`${configuration}  tables: \${TABLES:-orders, items}\n`), {
      DB_PASSWORD: SECRET,
    });
    expect(config.source.password).toBe(SECRET);
    expect(config.source.tables).toEqual(["orders", "items"]);
    expect(config.sync.batchRows).toBe(2000);
  });

  it("names the key path and line of a missing environment variable", () => {
    expect(errorsOf(() => parseAppConfig(yaml(configuration), {}, "connector.yml"))).toEqual([
      "connector.yml:7 configuration.password: environment variable DB_PASSWORD is not set",
    ]);
  });

  it("names the line of an invalid value, an unknown key, a bad index name and invalid advanced JSON", () => {
    const text = `elasticsearch:\n  host: http://127.0.0.1:9200\nindex_name: Search Shop\n${configuration}  port: seven\nsync_rules:\n  advanced: "[{"\nsync:\n  batch_rows: 0\n  bulk_concurency: 2\n`;
    const messages = errorsOf(() => parseAppConfig(text, { DB_PASSWORD: SECRET }, "c.yml"));
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^c\.yml:3 index_name: must be lowercase/),
        'c.yml:10 configuration.port: must be an integer between 1 and 65535, got "seven"',
        expect.stringMatching(/^c\.yml:12 sync_rules\.advanced: is not valid JSON/),
        "c.yml:14 sync.batch_rows: must be an integer ≥ 1 and ≤ 100000, got 0",
        'c.yml:15 sync.bulk_concurency: unknown key (did you mean "bulk_concurrency"?)',
      ]),
    );
  });

  it("publishes a JSON Schema that lists the configuration fields", () => {
    const schema = appConfigJsonSchema() as {
      properties: { configuration: { properties: Record<string, unknown> } };
    };
    expect(Object.keys(schema.properties.configuration.properties)).toEqual(
      CONNECTOR_FIELDS.map((f) => f.key),
    );
  });
});

describe("the connector service's config.yml (one loader and schema with the sync YAML)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgsearch-config-"));
  const load = (text: string, env: NodeJS.ProcessEnv = {}) => {
    const path = join(dir, `config-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(path, text);
    return loadServiceConfig(path, env);
  };
  const connectors = "connectors:\n  - connector_id: my-connector\n";

  it("applies pgsearch.sync and pgsearch.protocol, with the sync YAML's defaults for the rest", () => {
    const config = load(
      `${connectors}pgsearch:\n  protocol: index\n  sync:\n    batch_rows: 123\n    mappings: dynamic\n`,
    );
    expect(config.protocol).toBe("index");
    expect(config.sync).toEqual({ ...DEFAULT_SYNC_OPTIONS, batchRows: 123, mappings: "dynamic" });
    expect(config.service.idling).toBe(30);
    expect(config.elasticsearch.requestTimeoutMs).toBe(240_000);
  });

  it("interpolates like EnvYAML: ${VAR}, ${VAR|default}, unquoted numbers typed, dotted keys nested", () => {
    const config = load(
      `elasticsearch:\n  host: \${ES_HOST|http://es.internal:9200}\n  username: elastic\n  password: \${ES_PASSWORD}\nservice.idling: \${IDLE}\n${connectors}`,
      { ES_PASSWORD: SECRET, IDLE: "7" },
    );
    expect(config.elasticsearch).toMatchObject({ host: "http://es.internal:9200", password: SECRET });
    expect(config.service.idling).toBe(7);
  });

  it("accepts Elastic's own service settings it does not use", () => {
    const config = load(
      `elasticsearch:\n  bulk.chunk_size: 500\n  max_retries: 5\nservice:\n  preflight_idle: 30\n${connectors}sources:\n  postgresql: connectors.sources.postgresql:PostgreSQLDataSource\n`,
    );
    expect(config.connectors).toEqual([{ connectorId: "my-connector", serviceType: "postgresql" }]);
  });

  it("refuses unknown keys and bad values, naming the key and line (issue 10.10)", () => {
    const messages = errorsOf(() =>
      load(
        `service:\n  idling: -5\n${connectors}pgsearch:\n  protocl: api\n  sync:\n    batch_rows: 0\n    bulk_concurency: 2\n`,
        { P: SECRET },
      ),
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/config-\w+\.yml:2 service\.idling: must be a positive number, got -5$/),
        expect.stringMatching(/:6 pgsearch\.protocl: unknown key \(did you mean "protocol"\?\)$/),
        expect.stringMatching(/:8 pgsearch\.sync\.batch_rows: must be an integer ≥ 1 and ≤ 100000, got 0$/),
        expect.stringMatching(
          /:9 pgsearch\.sync\.bulk_concurency: unknown key \(did you mean "bulk_concurrency"\?\)$/,
        ),
      ]),
    );
    expect(messages).toHaveLength(4);
  });
});

describe("one schema for validation, defaults, JSON Schema and docs", () => {
  it("the sync defaults and the JSON Schema's defaults are the schema's", () => {
    const schema = appConfigJsonSchema() as {
      additionalProperties: boolean;
      properties: { sync: { properties: Record<string, { default: unknown }> } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.sync.properties.batch_rows?.default).toBe(DEFAULT_SYNC_OPTIONS.batchRows);
    expect(schema.properties.sync.properties.mappings?.default).toBe("typed");
  });

  it("docs/configuration.md's key tables are current (pgsearch config docs docs/configuration.md)", () => {
    const text = readFileSync("docs/configuration.md", "utf8");
    expect(text).toContain("<!-- keys:sync -->");
    expect(rewriteKeyTables(text)).toBe(text);
  });

  it("-c - reads the configuration from standard input", () => {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "validate", "-c", "-"],
      {
        input: "index_name: search-x\nconfiguration:\n  host: db\nsync:\n  batch_rows: 0\n",
        encoding: "utf8",
      },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("stdin:5 sync.batch_rows: must be an integer");
  });
});
