import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigErrors } from "../errors.js";
import { ConfigReader, readConfigText, sourceNameOf } from "./loader.js";
import { type PostgresConfig, resolvePostgresConfig } from "./postgres-config.js";
import {
  appConfigSchema,
  camelize,
  type Camelized,
  DELEGATED_PATHS,
  followSchema,
  syncSchema,
  type SyncOptions,
} from "./schema.js";

export type { SyncOptions } from "./schema.js";

/** The defaults of `sync:`, from the schema. */
export const DEFAULT_SYNC_OPTIONS: SyncOptions = camelize(syncSchema.parse({}));

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
export type FollowConfig = Camelized<z.output<typeof followSchema>>;

export const DEFAULT_FOLLOW_CONFIG: FollowConfig = camelize(followSchema.parse({}));

/** Reads the sync YAML; `-` reads standard input. */
export function loadAppConfig(path: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  return parseAppConfig(readConfigText(path), env, sourceNameOf(path));
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
  const reader = new ConfigReader(text, env, sourceName);
  const parsed = reader.validate(appConfigSchema, DELEGATED_PATHS);
  const raw = reader.raw;
  // elasticsearch: or opensearch: (the same keys; the engine is told by the server's answer)
  if (raw.opensearch !== undefined && raw.elasticsearch !== undefined)
    reader.fail(["opensearch"], "give either an elasticsearch: or an opensearch: block, not both");
  const block = raw.opensearch !== undefined ? "opensearch" : "elasticsearch";
  const elasticsearch = elasticsearchConfig(reader, parsed?.[block], block);
  const indexName = typeof raw.index_name === "string" ? raw.index_name : "";
  const problem = indexName === "" ? undefined : indexNameProblem(indexName);
  if (problem !== undefined) reader.fail(["index_name"], problem);
  const source = postgresConfig(reader, raw.configuration);
  const rules = (raw.sync_rules ?? {}) as { basic?: unknown; advanced?: unknown };
  let advanced: unknown = rules.advanced ?? [];
  if (typeof advanced === "string" && advanced.trim() !== "") {
    try {
      advanced = JSON.parse(advanced);
    } catch (error) {
      reader.fail(["sync_rules", "advanced"], `is not valid JSON: ${(error as Error).message}`);
    }
  }
  reader.throwIfErrors();
  if (parsed === undefined || source === undefined || elasticsearch === undefined)
    throw new ConfigErrors(reader.errors);
  return {
    elasticsearch,
    indexName: parsed.index_name,
    source,
    syncRules: { basic: parsed.sync_rules.basic, advanced },
    sync: syncOptionsOf(parsed.sync),
    follow: camelize(parsed.follow),
  };
}

/** `sync:` / `pgsearch.sync:` as the engine's options. */
export function syncOptionsOf(sync: z.output<typeof syncSchema>): SyncOptions {
  return camelize({ ...sync, pipeline: sync.pipeline === "" ? null : sync.pipeline });
}

function postgresConfig(reader: ConfigReader, configuration: unknown): PostgresConfig | undefined {
  if (configuration === null || typeof configuration !== "object" || Array.isArray(configuration))
    return undefined;
  try {
    return resolvePostgresConfig(configuration as Record<string, unknown>, "");
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    for (const e of error.errors) {
      const key = e.field.split(".")[0] ?? e.field;
      reader.fail(["configuration", key], e.message.slice(e.field.length + 2));
    }
    return undefined;
  }
}

type EsSection = {
  host: string;
  api_key?: string | null;
  username?: string | null;
  password?: string | null;
  ca_certs?: string | null;
  request_timeout: number;
};

/** `elasticsearch:` of either file, checked (URL, CA file) and camelCased. */
export function elasticsearchConfig(
  reader: ConfigReader,
  es: EsSection | undefined,
  block = "elasticsearch",
): ElasticsearchConfig | undefined {
  if (es === undefined) return undefined;
  try {
    const url = new URL(es.host);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("protocol");
  } catch {
    reader.fail([block, "host"], `must be an http(s) URL, got ${JSON.stringify(redactUserinfo(es.host))}`);
  }
  const present = (value: string | null | undefined): string | undefined =>
    value === undefined || value === null || value === "" ? undefined : value;
  let caCerts = present(es.ca_certs);
  if (caCerts !== undefined && !caCerts.includes("-----BEGIN")) {
    try {
      caCerts = readFileSync(caCerts, "utf8");
    } catch {
      reader.fail([block, "ca_certs"], "must be PEM content or the path of a readable PEM file");
    }
  }
  const apiKey = present(es.api_key);
  const username = present(es.username);
  const password = present(es.password);
  return {
    host: es.host,
    requestTimeoutMs: es.request_timeout * 1000,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(caCerts === undefined ? {} : { caCerts }),
  };
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
  return z.toJSONSchema(appConfigSchema, { io: "input", unrepresentable: "any" });
}
