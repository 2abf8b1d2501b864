import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ConfigError, ConfigErrors } from "../errors.js";
import type { ElasticsearchConfig, SyncOptions } from "../config/app-config.js";
import { DEFAULT_SYNC_OPTIONS } from "../config/app-config.js";

/** One connector this service process manages (Elastic's `connectors:` list). */
export interface ManagedConnector {
  connectorId: string;
  serviceType: string;
  /** Overrides the service's credentials for this connector's content-index writes. */
  apiKey?: string;
}

export interface ServiceConfig {
  elasticsearch: ElasticsearchConfig;
  connectors: ManagedConnector[];
  service: {
    /** `service.log_level` (Elastic: INFO), as written; the command line wins over it. */
    logLevel?: string;
    /** Seconds between polls of connectors and jobs (Elastic: 30). */
    idling: number;
    /** Seconds between check-ins (Elastic: 300). */
    heartbeat: number;
    maxConcurrentContentSyncs: number;
    /** Seconds between clean-ups of idle and orphaned jobs (Elastic: 300). */
    jobCleanupInterval: number;
    /** A running job not seen for this long is marked as failed (Elastic: 300). */
    idleJobTimeout: number;
    /** Seconds between job stats reports (Elastic: 10). */
    statsInterval: number;
    /** Seconds between cancel checks of a running job (Elastic: 5). */
    cancelCheckInterval: number;
  };
  /** "api" (Connector APIs), "index" (direct system-index access) or "auto". */
  protocol: "auto" | "api" | "index";
  sync: SyncOptions;
}

/** Nests dotted keys the way Elastic's loader does: `elasticsearch.bulk.chunk_size: 500`. */
function nestDotted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(nestDotted);
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const parts = key.split(".");
    let target = result;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (next === null || typeof next !== "object") target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1] ?? key;
    const nested = nestDotted(inner);
    const existing = target[last];
    target[last] =
      existing !== null && typeof existing === "object" && nested !== null && typeof nested === "object"
        ? { ...existing, ...nested }
        : nested;
  }
  return result;
}

function substituteEnv(text: string, env: NodeJS.ProcessEnv, errors: ConfigError[]): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_.]*)(?::-([^}]*))?\}/g,
    (_, name: string, fallback?: string) => {
      const value = env[name];
      if (value !== undefined && value !== "") return value;
      if (fallback !== undefined) return fallback;
      errors.push(new ConfigError(name, "environment variable is not set"));
      return "";
    },
  );
}

/**
 * Reads Elastic's connector-service `config.yml` (same keys: `elasticsearch.*`, `service.*`,
 * `connectors: [{connector_id, service_type, api_key}]`), plus pgsearch's optional `pgsearch:`
 * section (`protocol`, `sync` tuning). Unknown Elastic keys are ignored, as Elastic's loader does.
 */
export function loadServiceConfig(path: string, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const errors: ConfigError[] = [];
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, `cannot read the configuration file: ${(error as Error).message}`);
  }
  const raw = nestDotted(parse(substituteEnv(text, env, errors)) ?? {}) as Record<
    string,
    Record<string, unknown> | undefined
  >;
  const es = raw.elasticsearch ?? {};
  const service = raw.service ?? {};
  const pgsearch = raw.pgsearch ?? {};
  const number = (section: Record<string, unknown>, key: string, fallback: number, field: string): number => {
    const value = section[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || value <= 0) {
      errors.push(new ConfigError(field, `must be a positive number, got ${JSON.stringify(value)}`));
      return fallback;
    }
    return value;
  };
  const connectorsRaw = (raw.connectors as unknown) ?? [];
  const connectors: ManagedConnector[] = [];
  if (!Array.isArray(connectorsRaw)) {
    errors.push(new ConfigError("connectors", "must be a list of {connector_id, service_type, api_key}"));
  } else {
    connectorsRaw.forEach((entry: unknown, i) => {
      const c = (entry ?? {}) as Record<string, unknown>;
      if (typeof c.connector_id !== "string" || c.connector_id === "" || c.connector_id === "changeme") {
        errors.push(
          new ConfigError(
            `connectors[${i}].connector_id`,
            "is required (the id of a connector created in Kibana or with PUT _connector/<id>)",
          ),
        );
        return;
      }
      const serviceType = typeof c.service_type === "string" ? c.service_type : "postgresql";
      connectors.push({
        connectorId: c.connector_id,
        serviceType,
        ...(typeof c.api_key === "string" && c.api_key !== "" ? { apiKey: c.api_key } : {}),
      });
    });
  }
  // The deprecated single-connector form.
  if (typeof (raw as Record<string, unknown>).connector_id === "string") {
    connectors.push({
      connectorId: (raw as Record<string, unknown>).connector_id as string,
      serviceType: ((raw as Record<string, unknown>).service_type as string | undefined) ?? "postgresql",
    });
  }
  if (connectors.length === 0 && errors.length === 0) {
    errors.push(
      new ConfigError(
        "connectors",
        "no connector configured: add connectors: [{connector_id: ..., service_type: postgresql}]",
      ),
    );
  }
  const protocol = (pgsearch.protocol as string | undefined) ?? "auto";
  if (!["auto", "api", "index"].includes(protocol)) {
    errors.push(
      new ConfigError("pgsearch.protocol", `must be auto, api or index, got ${JSON.stringify(protocol)}`),
    );
  }
  const host = typeof es.host === "string" ? es.host : "http://localhost:9200";
  const str = (key: string): string | undefined =>
    typeof es[key] === "string" && es[key] !== "" ? es[key] : undefined;
  if (errors.length > 0) throw new ConfigErrors(errors);
  const apiKey = str("api_key");
  const username = str("username");
  const password = str("password");
  const caCertsPath = str("ca_certs");
  return {
    elasticsearch: {
      host,
      requestTimeoutMs: number(es, "request_timeout", 240, "elasticsearch.request_timeout") * 1000,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(apiKey === undefined && username !== undefined ? { username, password: password ?? "" } : {}),
      ...(caCertsPath === undefined ? {} : { caCerts: readFileSync(caCertsPath, "utf8") }),
    },
    connectors,
    service: {
      ...(typeof service.log_level === "string" ? { logLevel: service.log_level } : {}),
      idling: number(service, "idling", 30, "service.idling"),
      heartbeat: number(service, "heartbeat", 300, "service.heartbeat"),
      maxConcurrentContentSyncs: number(
        service,
        "max_concurrent_content_syncs",
        1,
        "service.max_concurrent_content_syncs",
      ),
      jobCleanupInterval: number(service, "job_cleanup_interval", 300, "service.job_cleanup_interval"),
      idleJobTimeout: number(service, "idle_job_timeout", 300, "service.idle_job_timeout"),
      statsInterval: number(service, "stats_interval", 10, "service.stats_interval"),
      cancelCheckInterval: number(service, "cancel_check_interval", 2, "service.cancel_check_interval"),
    },
    protocol: protocol as ServiceConfig["protocol"],
    sync: { ...DEFAULT_SYNC_OPTIONS, ...((pgsearch.sync as Partial<SyncOptions> | undefined) ?? {}) },
  };
}
