import { ConfigErrors } from "../errors.js";
import type { ElasticsearchConfig, SyncOptions } from "../config/app-config.js";
import { elasticsearchConfig, syncOptionsOf } from "../config/app-config.js";
import { ConfigReader, readConfigText, sourceNameOf } from "../config/loader.js";
import { camelize, serviceConfigSchema } from "../config/schema.js";

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
    /**
     * A connector locked with no job of it running for this long is released (stale-lock.ts):
     * the lock of a process that died between locking and claiming, or before releasing.
     */
    staleLockTimeout: number;
    /** Seconds between job stats reports (Elastic: 10). */
    statsInterval: number;
    /** Seconds between cancel checks of a running job (Elastic: 5). */
    cancelCheckInterval: number;
  };
  /** "api" (Connector APIs), "index" (direct system-index access) or "auto". */
  protocol: "auto" | "api" | "index";
  sync: SyncOptions;
}

/**
 * Reads Elastic's connector-service `config.yml` (same keys: `elasticsearch.*`, `service.*`,
 * `connectors: [{connector_id, service_type, api_key}]`), plus pgsearch's optional `pgsearch:`
 * section (`protocol`, `sync` tuning), through the one loader and schema (src/config/schema.ts).
 * Elastic's keys pgsearch does not use are accepted; unknown keys and bad values are refused.
 */
export function loadServiceConfig(path: string, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const reader = new ConfigReader(readConfigText(path), env, sourceNameOf(path), { nestDottedKeys: true });
  const parsed = reader.validate(serviceConfigSchema);
  const elasticsearch = elasticsearchConfig(reader, parsed?.elasticsearch);
  const connectors: ManagedConnector[] = (parsed?.connectors ?? []).map((c) => ({
    connectorId: c.connector_id,
    serviceType: c.service_type,
    ...(typeof c.api_key === "string" && c.api_key !== "" ? { apiKey: c.api_key } : {}),
  }));
  // The deprecated single-connector form.
  if (parsed?.connector_id !== undefined)
    connectors.push({ connectorId: parsed.connector_id, serviceType: parsed.service_type ?? "postgresql" });
  if (parsed !== undefined && connectors.length === 0)
    reader.fail(
      ["connectors"],
      "no connector configured: add connectors: [{connector_id: ..., service_type: postgresql}]",
    );
  reader.throwIfErrors();
  if (parsed === undefined || elasticsearch === undefined) throw new ConfigErrors(reader.errors);
  const { log_level: logLevel, ...timings } = parsed.service;
  const service = camelize(timings);
  return {
    // Elastic: username/password only without an API key; a missing password is empty.
    elasticsearch:
      elasticsearch.apiKey === undefined && elasticsearch.username !== undefined
        ? { ...elasticsearch, password: elasticsearch.password ?? "" }
        : { ...elasticsearch, username: undefined, password: undefined },
    connectors,
    service: {
      ...(typeof logLevel === "string" ? { logLevel } : {}),
      idling: service.idling,
      heartbeat: service.heartbeat,
      maxConcurrentContentSyncs: service.maxConcurrentContentSyncs,
      jobCleanupInterval: service.jobCleanupInterval,
      idleJobTimeout: service.idleJobTimeout,
      staleLockTimeout: service.staleLockTimeout,
      statsInterval: service.statsInterval,
      cancelCheckInterval: service.cancelCheckInterval,
    },
    protocol: parsed.pgsearch.protocol,
    sync: syncOptionsOf(parsed.pgsearch.sync),
  };
}
