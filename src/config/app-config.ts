import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { ConfigError, ConfigErrors } from "../errors.js";
import { CONNECTOR_FIELDS } from "./connector-fields.js";
import { type PostgresConfig, closest, resolvePostgresConfig } from "./postgres-config.js";

/** pgsearch's own tuning, under `sync:` in the YAML file. Defaults come from docs/benchmarks.md. */
export interface SyncOptions {
  /** Rows per FETCH from PostgreSQL. */
  batchRows: number;
  /** Flush a `_bulk` request at this many bytes... */
  bulkMaxBytes: number;
  /** ...or this many operations. */
  bulkMaxDocs: number;
  /** `_bulk` requests in flight. */
  bulkConcurrency: number;
  /** Tables read at the same time. */
  parallelTables: number;
  /** The delete pass refuses to remove more than this share of the index (see --allow-mass-delete). */
  maxDeletePercent: number;
  /** Compare content hashes and skip documents that did not change. */
  skipUnchanged: boolean;
  /** Ingest pipeline for `_bulk`, or null. */
  pipeline: string | null;
  /** "typed" (default): explicit mappings from the column types for every unmapped field; "dynamic": as the reference. */
  mappings: "dynamic" | "typed";
  maxConsecutiveErrors: number;
  maxTotalErrors: number;
  maxErrorRate: number;
}

export const DEFAULT_SYNC_OPTIONS: SyncOptions = {
  batchRows: 2000,
  bulkMaxBytes: 5 * 1024 * 1024,
  bulkMaxDocs: 2000,
  bulkConcurrency: 3,
  parallelTables: 2,
  maxDeletePercent: 50,
  skipUnchanged: true,
  pipeline: null,
  mappings: "typed",
  maxConsecutiveErrors: 10,
  maxTotalErrors: 1000,
  maxErrorRate: 0.15,
};

export interface ElasticsearchConfig {
  host: string;
  apiKey?: string;
  username?: string;
  password?: string;
  caCerts?: string;
  requestTimeoutMs: number;
}

export interface AppConfig {
  elasticsearch: ElasticsearchConfig;
  indexName: string;
  source: PostgresConfig;
  syncRules: { basic: unknown[]; advanced: unknown };
  sync: SyncOptions;
  follow: FollowConfig;
}

/** `follow:` in the YAML file: what `sync --follow` does with a change Elasticsearch refuses. */
export interface FollowConfig {
  /** "stop" (default): retry, then exit 1 leaving the slot before it; "record": write it to pgsearch-failures and go on. */
  onDocumentError: "stop" | "record";
}

export const DEFAULT_FOLLOW_CONFIG: FollowConfig = { onDocumentError: "stop" };

const SYNC_KEYS: Record<
  string,
  { key: keyof SyncOptions; kind: "int" | "number" | "bool" | "string?"; min?: number; max?: number }
> = {
  batch_rows: { key: "batchRows", kind: "int", min: 1, max: 100_000 },
  bulk_max_bytes: { key: "bulkMaxBytes", kind: "int", min: 1024, max: 100 * 1024 * 1024 },
  bulk_max_docs: { key: "bulkMaxDocs", kind: "int", min: 1, max: 100_000 },
  bulk_concurrency: { key: "bulkConcurrency", kind: "int", min: 1, max: 64 },
  parallel_tables: { key: "parallelTables", kind: "int", min: 1, max: 64 },
  max_delete_percent: { key: "maxDeletePercent", kind: "number", min: 0, max: 100 },
  skip_unchanged: { key: "skipUnchanged", kind: "bool" },
  pipeline: { key: "pipeline", kind: "string?" },
  mappings: { key: "mappings", kind: "string?" },
  max_consecutive_errors: { key: "maxConsecutiveErrors", kind: "int", min: 0 },
  max_total_errors: { key: "maxTotalErrors", kind: "int", min: 0 },
  max_error_rate: { key: "maxErrorRate", kind: "number", min: 0, max: 1 },
};
const TOP_KEYS = [
  "elasticsearch",
  "opensearch",
  "index_name",
  "configuration",
  "sync_rules",
  "sync",
  "follow",
];
const ES_KEYS = ["host", "api_key", "username", "password", "ca_certs", "request_timeout"];

export function loadAppConfig(path: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, `cannot read the configuration file: ${(error as Error).message}`);
  }
  return parseAppConfig(text, env, path);
}

/**
 * Parses the YAML configuration. Every error names the key path and, where the YAML has one, the
 * line: "connector.yml:7 configuration.port: must be an integer between 1 and 65535, got \"x\"".
 */
export function parseAppConfig(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  sourceName = "config",
): AppConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e?.linePos?.[0].line;
    throw new ConfigError(
      `${sourceName}${line === undefined ? "" : `:${line}`}`,
      `invalid YAML: ${e?.message ?? "parse error"}`,
    );
  }
  const errors: ConfigError[] = [];
  const lineOf = (keyPath: (string | number)[]): string => {
    const node = doc.getIn(keyPath, true) as Node | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? sourceName : `${sourceName}:${lineCounter.linePos(offset).line}`;
  };
  // A path whose environment variable was missing is reported once, not again as "empty".
  const reported = new Set<string>();
  const fail = (keyPath: (string | number)[], message: string): void => {
    const dotted = keyPath.join(".");
    if (reported.has(dotted) && !message.startsWith("environment variable")) return;
    reported.add(dotted);
    errors.push(new ConfigError(`${lineOf(keyPath)} ${dotted}`, message));
  };

  // ${VAR} and ${VAR:-default} in every string scalar.
  const substitute = (node: unknown, keyPath: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : "?";
        substitute(pair.value, [...keyPath, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        substitute(item, [...keyPath, i]);
      });
    } else if (isScalar(node) && typeof node.value === "string") {
      node.value = node.value.replace(
        /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
        (_, name: string, fallback?: string) => {
          const value = env[name];
          if (value !== undefined && value !== "") return value;
          if (fallback !== undefined) return fallback;
          fail(keyPath, `environment variable ${name} is not set`);
          return "";
        },
      );
    }
  };
  substitute(doc.contents, []);

  const root = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof root !== "object" || Array.isArray(root)) {
    throw new ConfigError(sourceName, "the configuration must be a YAML mapping");
  }
  for (const key of Object.keys(root)) {
    if (!TOP_KEYS.includes(key)) fail([key], `unknown key${hint(key, TOP_KEYS)}`);
  }

  // elasticsearch (or opensearch: the same keys; the engine is told by the server's answer)
  const block = root.opensearch !== undefined ? "opensearch" : "elasticsearch";
  if (root.opensearch !== undefined && root.elasticsearch !== undefined)
    fail(["opensearch"], "give either an elasticsearch: or an opensearch: block, not both");
  const esRaw = (root[block] ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(esRaw))
    if (!ES_KEYS.includes(key)) fail([block, key], `unknown key${hint(key, ES_KEYS)}`);
  const host = typeof esRaw.host === "string" ? esRaw.host : "http://127.0.0.1:9200";
  try {
    const url = new URL(host);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("protocol");
  } catch {
    fail([block, "host"], `must be an http(s) URL, got ${JSON.stringify(redactUserinfo(host))}`);
  }
  const timeout = esRaw.request_timeout ?? 60;
  if (typeof timeout !== "number" || timeout <= 0)
    fail([block, "request_timeout"], "must be a positive number of seconds");
  const optionalString = (key: string): string | undefined => {
    const value = esRaw[key];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string") {
      fail([block, key], "must be a string");
      return undefined;
    }
    return value;
  };
  const elasticsearch: ElasticsearchConfig = {
    host,
    requestTimeoutMs: (typeof timeout === "number" ? timeout : 60) * 1000,
  };
  const apiKey = optionalString("api_key");
  const username = optionalString("username");
  const password = optionalString("password");
  let caCerts = optionalString("ca_certs");
  if (apiKey !== undefined) elasticsearch.apiKey = apiKey;
  if (username !== undefined) elasticsearch.username = username;
  if (password !== undefined) elasticsearch.password = password;
  if (caCerts !== undefined && !caCerts.includes("-----BEGIN")) {
    try {
      caCerts = readFileSync(caCerts, "utf8");
    } catch {
      fail([block, "ca_certs"], "must be PEM content or the path of a readable PEM file");
    }
  }
  if (caCerts !== undefined) elasticsearch.caCerts = caCerts;

  // index_name
  const indexName = root.index_name;
  if (typeof indexName !== "string" || indexName === "")
    fail(["index_name"], "is required (the content index, e.g. search-postgresql)");
  else {
    const problem = indexNameProblem(indexName);
    if (problem !== undefined) fail(["index_name"], problem);
  }

  // configuration
  let source: PostgresConfig | undefined;
  const configuration = root.configuration;
  if (configuration === null || typeof configuration !== "object" || Array.isArray(configuration)) {
    fail(
      ["configuration"],
      "is required: the PostgreSQL connection (host, port, username, password, database, schema, tables)",
    );
  } else {
    try {
      source = resolvePostgresConfig(configuration as Record<string, unknown>, "");
    } catch (error) {
      if (!(error instanceof ConfigErrors)) throw error;
      for (const e of error.errors) {
        const key = e.field.split(".")[0] ?? e.field;
        fail(["configuration", key], e.message.slice(e.field.length + 2));
      }
    }
  }

  // sync_rules
  const rulesRaw = (root.sync_rules ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(rulesRaw))
    if (!["basic", "advanced"].includes(key)) fail(["sync_rules", key], "unknown key (basic, advanced)");
  const basic = rulesRaw.basic ?? [];
  if (!Array.isArray(basic)) fail(["sync_rules", "basic"], "must be a list of rules");
  let advanced: unknown = rulesRaw.advanced ?? [];
  if (typeof advanced === "string" && advanced.trim() !== "") {
    try {
      advanced = JSON.parse(advanced);
    } catch (error) {
      fail(["sync_rules", "advanced"], `is not valid JSON: ${(error as Error).message}`);
    }
  }

  // sync
  const sync: SyncOptions = { ...DEFAULT_SYNC_OPTIONS };
  const syncRaw = (root.sync ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(syncRaw)) {
    const spec = SYNC_KEYS[key];
    if (spec === undefined) {
      fail(["sync", key], `unknown key${hint(key, Object.keys(SYNC_KEYS))}`);
      continue;
    }
    const range = `${spec.min === undefined ? "" : ` ≥ ${spec.min}`}${spec.max === undefined ? "" : ` and ≤ ${spec.max}`}`;
    if (spec.kind === "bool") {
      if (typeof value !== "boolean") fail(["sync", key], "must be true or false");
      else (sync as unknown as Record<string, unknown>)[spec.key] = value;
    } else if (key === "mappings") {
      if (value !== "dynamic" && value !== "typed")
        fail(["sync", key], `must be "dynamic" or "typed", got ${JSON.stringify(value)}`);
      else sync.mappings = value;
    } else if (spec.kind === "string?") {
      if (value !== null && typeof value !== "string") fail(["sync", key], "must be a string or null");
      else (sync as unknown as Record<string, unknown>)[spec.key] = value === "" ? null : value;
    } else if (
      typeof value !== "number" ||
      (spec.kind === "int" && !Number.isInteger(value)) ||
      (spec.min !== undefined && value < spec.min) ||
      (spec.max !== undefined && value > spec.max)
    ) {
      fail(
        ["sync", key],
        `must be ${spec.kind === "int" ? "an integer" : "a number"}${range}, got ${JSON.stringify(value)}`,
      );
    } else {
      (sync as unknown as Record<string, unknown>)[spec.key] = value;
    }
  }

  const follow = parseFollow(root.follow, fail);

  if (errors.length > 0 || source === undefined || typeof indexName !== "string")
    throw new ConfigErrors(errors);
  return {
    elasticsearch,
    indexName,
    source,
    syncRules: { basic: Array.isArray(basic) ? basic : [], advanced },
    sync,
    follow,
  };
}

function parseFollow(raw: unknown, fail: (path: string[], message: string) => void): FollowConfig {
  const follow = { ...DEFAULT_FOLLOW_CONFIG };
  if (raw === undefined || raw === null) return follow;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail(["follow"], "must be a mapping");
    return follow;
  }
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key !== "on_document_error") fail(["follow", key], `unknown key${hint(key, ["on_document_error"])}`);
    else if (value !== "stop" && value !== "record")
      fail(["follow", key], `must be "stop" or "record", got ${JSON.stringify(value)}`);
    else follow.onDocumentError = value;
  }
  return follow;
}

function hint(key: string, candidates: string[]): string {
  const suggestion = closest(key, candidates);
  return suggestion === undefined
    ? ` (expected one of ${candidates.join(", ")})`
    : ` (did you mean "${suggestion}"?)`;
}

function redactUserinfo(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** Elasticsearch's index name rules; undefined when the name is valid. */
export function indexNameProblem(name: string): string | undefined {
  if (name !== name.toLowerCase()) return `must be lowercase, got "${name}"`;
  if (/[\\/*?"<>| ,#:]/.test(name)) return `must not contain \\ / * ? " < > | space , # :, got "${name}"`;
  if (/^[-_+]/.test(name)) return `must not start with -, _ or +, got "${name}"`;
  if (name === "." || name === "..") return `cannot be "." or ".."`;
  if (Buffer.byteLength(name) > 255) return "must be at most 255 bytes";
  return undefined;
}

/** JSON Schema of the YAML file, for editors and `pgsearch config schema`. */
export function appConfigJsonSchema(): Record<string, unknown> {
  const configurationProperties: Record<string, unknown> = Object.fromEntries(
    CONNECTOR_FIELDS.map((f) => [
      f.key,
      {
        title: f.label,
        ...(f.type === "int"
          ? { type: ["integer", "string"] }
          : f.type === "bool"
            ? { type: ["boolean", "string"] }
            : f.type === "list"
              ? { type: ["string", "array"] }
              : { type: "string" }),
        ...(f.defaultValue === null || f.defaultValue === "" ? {} : { default: f.defaultValue }),
        ...(f.options.length > 0 ? { enum: f.options.map((o) => o.value) } : {}),
        ...(f.tooltip === "" ? {} : { description: f.tooltip }),
      },
    ]),
  );
  const sinkBlock = {
    type: "object",
    additionalProperties: false,
    properties: {
      host: { type: "string", format: "uri", default: "http://127.0.0.1:9200" },
      api_key: { type: "string", description: "encoded API key" },
      username: { type: "string" },
      password: { type: "string" },
      ca_certs: { type: "string", description: "PEM content or path" },
      request_timeout: { type: "number", default: 60, description: "seconds" },
    },
  };
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "pgsearch configuration",
    type: "object",
    additionalProperties: false,
    required: ["index_name", "configuration"],
    properties: {
      elasticsearch: sinkBlock,
      // The same keys, for a host that is OpenSearch (either block; the server's answer decides).
      opensearch: sinkBlock,
      index_name: { type: "string", description: "the content index" },
      configuration: { type: "object", additionalProperties: false, properties: configurationProperties },
      sync_rules: {
        type: "object",
        additionalProperties: false,
        properties: {
          basic: {
            type: "array",
            items: {
              type: "object",
              required: ["field", "rule", "value", "policy"],
              properties: {
                id: { type: "string" },
                field: { type: "string" },
                rule: { enum: ["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"] },
                value: { type: "string" },
                policy: { enum: ["include", "exclude"] },
                order: { type: "number" },
              },
            },
          },
          advanced: {
            description:
              "the reference's advanced rules: [{tables, query, id_columns?}], as YAML or a JSON string",
            oneOf: [
              { type: "string" },
              {
                type: "array",
                items: {
                  type: "object",
                  additionalProperties: false,
                  required: ["tables", "query"],
                  properties: {
                    tables: { type: "array", minItems: 1, items: { type: "string" } },
                    query: { type: "string", minLength: 1 },
                    id_columns: { type: "array", minItems: 1, items: { type: "string" } },
                  },
                },
              },
            ],
          },
        },
      },
      sync: {
        type: "object",
        additionalProperties: false,
        properties: Object.fromEntries(
          Object.entries(SYNC_KEYS).map(([key, spec]) => [
            key,
            {
              type:
                spec.kind === "bool"
                  ? "boolean"
                  : spec.kind === "string?"
                    ? ["string", "null"]
                    : spec.kind === "int"
                      ? "integer"
                      : "number",
              default: DEFAULT_SYNC_OPTIONS[spec.key],
              ...(spec.min === undefined ? {} : { minimum: spec.min }),
              ...(spec.max === undefined ? {} : { maximum: spec.max }),
            },
          ]),
        ),
      },
      follow: {
        type: "object",
        additionalProperties: false,
        properties: { on_document_error: { enum: ["stop", "record"], default: "stop" } },
      },
    },
  };
}
