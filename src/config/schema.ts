/**
 * The one declarative description of both configuration files: the sync YAML (`pgsearch sync -c`)
 * and the connector service's config.yml (`pgsearch serve`). Validation, defaults, the JSON Schema
 * (`pgsearch config schema`) and the key tables in docs/configuration.md all come from here, so a
 * key is added in one place. Objects are strict: an unknown key is an error, not ignored.
 */
import { z } from "zod";
import { CONNECTOR_FIELDS, type FieldDefinition } from "./connector-fields.js";

type Issue = { input?: unknown };
const got = (iss: Issue): string => `got ${JSON.stringify(iss.input)}`;

/** An integer in [min, max] with the message the docs and tests quote. */
function intIn(min: number, max?: number): z.ZodNumber {
  const range = ` ≥ ${min}${max === undefined ? "" : ` and ≤ ${max}`}`;
  const error = (iss: Issue): string => `must be an integer${range}, ${got(iss)}`;
  const base = z.int({ error }).min(min, { error });
  return max === undefined ? base : base.max(max, { error });
}

function numberIn(min: number, max?: number): z.ZodNumber {
  const range = ` ≥ ${min}${max === undefined ? "" : ` and ≤ ${max}`}`;
  const error = (iss: Issue): string => `must be a number${range}, ${got(iss)}`;
  const base = z.number({ error }).min(min, { error });
  return max === undefined ? base : base.max(max, { error });
}

/** Seconds, > 0 (Elastic's service durations). */
const seconds = (fallback: number, description: string) =>
  z
    .number({ error: (iss) => `must be a positive number, ${got(iss)}` })
    .positive({ error: (iss) => `must be a positive number, ${got(iss)}` })
    .default(fallback)
    .meta({ description });

const bool = (fallback: boolean, description: string) =>
  z
    .boolean({ error: () => "must be true or false" })
    .default(fallback)
    .meta({ description });

/** A string; a number is taken as its text (an unquoted `${SECRET}` of digits). */
const optionalString = (description: string) =>
  z
    .union([z.string(), z.number().transform(String)], { error: () => "must be a string" })
    .nullish()
    .meta({ description });

/** pgsearch's own tuning: `sync:` in the sync YAML, `pgsearch.sync:` in config.yml. */
export const syncSchema = z
  .strictObject({
    batch_rows: intIn(1, 100_000).default(2000).meta({ description: "rows per FETCH" }),
    bulk_max_bytes: intIn(1024, 100 * 1024 * 1024)
      .default(5 * 1024 * 1024)
      .meta({ description: "bytes per `_bulk` request" }),
    bulk_max_docs: intIn(1, 100_000).default(2000).meta({ description: "operations per `_bulk` request" }),
    bulk_concurrency: intIn(1, 64).default(3).meta({ description: "`_bulk` requests in flight" }),
    parallel_tables: intIn(1, 64).default(2).meta({ description: "tables read at once" }),
    max_delete_percent: numberIn(0, 100).default(50).meta({
      description:
        "the delete pass refuses to delete more than this share of the index (and more than 100 documents) unless `--allow-mass-delete`",
    }),
    skip_unchanged: bool(true, "compare with the stored documents, send only changed rows"),
    pipeline: z
      .string({ error: () => "must be a string or null" })
      .nullable()
      .default(null)
      .meta({ description: "ingest pipeline for `_bulk`" }),
    mappings: z
      .enum(["dynamic", "typed"], { error: (iss) => `must be "dynamic" or "typed", ${got(iss)}` })
      .default("typed")
      .meta({
        description:
          "`typed`: explicit mappings from the column types (below) for every field the index does not map yet; `dynamic`: Elasticsearch's dynamic mapping decides from the first document, as the reference does",
      }),
    max_consecutive_errors: intIn(0)
      .default(10)
      .meta({ description: "error budget: failed documents in a row beyond this end the sync" }),
    max_total_errors: intIn(0)
      .default(1000)
      .meta({ description: "error budget: failed documents beyond this end the sync" }),
    max_error_rate: numberIn(0, 1)
      .default(0.15)
      .meta({ description: "error budget: a higher share of failed documents ends the sync" }),
  })
  .prefault({})
  .meta({ description: "pgsearch's tuning (defaults from docs/benchmarks.md)" });

/** `follow:` in the sync YAML: what `sync --follow` does with a change Elasticsearch refuses. */
export const followSchema = z
  .strictObject({
    on_document_error: z
      .enum(["stop", "record"], { error: (iss) => `must be "stop" or "record", ${got(iss)}` })
      .default("stop")
      .meta({
        description:
          '"stop": retry, then exit 1 leaving the slot before the change; "record": write it to pgsearch-failures and go on',
      }),
  })
  .prefault({})
  .meta({ description: "what sync --follow does with a change Elasticsearch refuses" });

/** The connector's fields (CONNECTOR_FIELDS); resolvePostgresConfig validates their values. */
function connectorFieldSchema(f: FieldDefinition): z.ZodType {
  const typed =
    f.type === "int"
      ? z.union([z.int(), z.string()])
      : f.type === "bool"
        ? z.union([z.boolean(), z.string()])
        : f.type === "list"
          ? z.union([z.string(), z.array(z.string())])
          : z.string();
  const meta = {
    title: f.label,
    ...(f.tooltip === "" ? {} : { description: f.tooltip }),
    ...(f.defaultValue === null || f.defaultValue === "" ? {} : { default: f.defaultValue }),
    ...(f.options.length > 0 ? { enum: f.options.map((o) => o.value) } : {}),
  };
  return typed.optional().meta(meta);
}

const connectionSchema = z
  .strictObject(Object.fromEntries(CONNECTOR_FIELDS.map((f) => [f.key, connectorFieldSchema(f)])), {
    error: () =>
      "is required: the PostgreSQL connection (host, port, username, password, database, schema, tables)",
  })
  .meta({ description: "the PostgreSQL connection: the reference connector's fields" });

/** `elasticsearch:`; config.yml has Elastic's defaults and accepts its other keys. */
function elasticsearchSchema(defaults: { host: string; requestTimeout: number }) {
  return z.strictObject({
    host: z
      .string({ error: () => "must be an http(s) URL" })
      .default(defaults.host)
      .meta({
        description:
          "URL of Elasticsearch 8.x or 9.x, or OpenSearch 2.x or 3.x (engine and version detected)",
      }),
    api_key: optionalString("encoded API key (preferred; wins over username/password)"),
    username: optionalString("basic authentication user"),
    password: optionalString("basic authentication password"),
    ca_certs: optionalString("PEM content or path of the CA of an https cluster"),
    request_timeout: seconds(defaults.requestTimeout, "seconds per request"),
  });
}

const basicRuleSchema = z.looseObject({
  id: z.string().optional(),
  field: z.string(),
  rule: z.enum(["equals", "contains", "starts_with", "ends_with", "regex", ">", "<"]),
  value: z.unknown(),
  policy: z.enum(["include", "exclude"]),
  order: z.number().optional(),
});

const advancedRuleSchema = z.strictObject({
  tables: z.array(z.string()).min(1),
  query: z.string().min(1),
  id_columns: z.array(z.string()).min(1).optional(),
});

/** The sync YAML of `pgsearch sync|validate|tables -c <file>`. */
export const appConfigSchema = z
  .strictObject({
    elasticsearch: elasticsearchSchema({ host: "http://127.0.0.1:9200", requestTimeout: 60 }).prefault({}),
    // The same keys for a host that is OpenSearch (either block; the server's answer decides).
    opensearch: elasticsearchSchema({ host: "http://127.0.0.1:9200", requestTimeout: 60 })
      .optional()
      .meta({ description: "instead of elasticsearch: the same keys, for an OpenSearch host" }),
    index_name: z
      .string({ error: () => "is required (the content index, e.g. search-postgresql)" })
      .min(1, { error: () => "is required (the content index, e.g. search-postgresql)" })
      .meta({ description: "the content index" }),
    configuration: connectionSchema,
    sync_rules: z
      .strictObject({
        basic: z.array(basicRuleSchema, { error: () => "must be a list of rules" }).default([]),
        advanced: z
          .union([z.string(), z.array(advancedRuleSchema)])
          .default([])
          .meta({
            description:
              "the reference's advanced rules: [{tables, query, id_columns?}], as YAML or a JSON string",
          }),
      })
      .prefault({}),
    sync: syncSchema,
    follow: followSchema,
  })
  .meta({ title: "pgsearch configuration" });

/**
 * Paths whose values another validator checks with its own messages (resolvePostgresConfig,
 * prepareRules): the schema describes them for editors and docs, and its issues there are dropped.
 */
export const DELEGATED_PATHS: readonly (readonly (string | number)[])[] = [
  ["configuration", "*"],
  ["sync_rules", "basic", "*"],
  ["sync_rules", "advanced"],
];

/** Elastic's config.yml keys pgsearch accepts but does not use (its own tuning of the Python service). */
const elasticOnly = (description: string) => z.unknown().optional().meta({ description });
const ELASTIC_ONLY = "Elastic's service setting: accepted, not used by pgsearch";
function elasticOnlyKeys<const K extends string>(
  keys: readonly K[],
): Record<K, ReturnType<typeof elasticOnly>> {
  return Object.fromEntries(keys.map((key) => [key, elasticOnly(ELASTIC_ONLY)])) as Record<
    K,
    ReturnType<typeof elasticOnly>
  >;
}

const serviceElasticsearchSchema = elasticsearchSchema({
  host: "http://localhost:9200",
  requestTimeout: 240,
}).extend(
  elasticOnlyKeys([
    "ssl",
    "verify_certs",
    "retry_on_timeout",
    "max_wait_duration",
    "initial_backoff_duration",
    "backoff_multiplier",
    "log_level",
    "max_retries",
    "retry_interval",
    "feature_use_connectors_api",
    "headers",
    "bulk",
  ]),
);

const connectorEntrySchema = z.strictObject({
  connector_id: z
    .string({
      error: () => "is required (the id of a connector created in Kibana or with PUT _connector/<id>)",
    })
    .refine((id) => id !== "" && id !== "changeme", {
      error: "is required (the id of a connector created in Kibana or with PUT _connector/<id>)",
    }),
  service_type: z.string().default("postgresql"),
  api_key: optionalString("this connector's own API key for its content index writes"),
});

/** Elastic's connector service config.yml, plus pgsearch's `pgsearch:` section. */
export const serviceConfigSchema = z
  .strictObject({
    elasticsearch: serviceElasticsearchSchema.prefault({}),
    service: z
      .strictObject({
        log_level: optionalString("debug, info, warning, error, critical; --log-level wins"),
        idling: seconds(30, "seconds between polls of connectors and jobs"),
        heartbeat: seconds(300, "seconds between check-ins"),
        max_concurrent_content_syncs: seconds(1, "content syncs run at the same time"),
        job_cleanup_interval: seconds(300, "seconds between clean-ups of idle and orphaned jobs"),
        idle_job_timeout: seconds(300, "a running job not seen for this long is marked as failed"),
        stale_lock_timeout: seconds(
          300,
          "a connector locked (last_sync_status in_progress) with no job running for this long is released",
        ),
        stats_interval: seconds(10, "seconds between job stats reports"),
        cancel_check_interval: seconds(2, "seconds between cancel checks of a running job"),
        ...elasticOnlyKeys([
          "preflight_max_attempts",
          "preflight_idle",
          "max_errors",
          "max_errors_span",
          "max_concurrent_access_control_syncs",
          "max_concurrent_scheduling_tasks",
          "max_file_download_size",
          "worker_mode",
          "service_types",
          "fips_mode",
        ]),
      })
      .prefault({}),
    connectors: z
      .array(connectorEntrySchema, { error: () => "must be a list of {connector_id, service_type, api_key}" })
      .default([]),
    connector_id: z.string().optional().meta({ description: "deprecated single-connector form" }),
    service_type: z.string().optional().meta({ description: "deprecated single-connector form" }),
    sources: elasticOnly("Elastic's source registry: accepted, not used"),
    extraction_service: elasticOnly("Elastic's extraction service: accepted, not used"),
    pgsearch: z
      .strictObject({
        protocol: z
          .enum(["auto", "api", "index"], { error: (iss) => `must be auto, api or index, ${got(iss)}` })
          .default("auto")
          .meta({ description: '"api" (Connector APIs), "index" (direct system-index access) or "auto"' }),
        sync: syncSchema,
      })
      .prefault({}),
  })
  .meta({ title: "pgsearch connector service config.yml" });

/** snake_case -> camelCase at the type level, so the options types follow the schema. */
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
export type Camelized<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };

export function camelize<T extends Record<string, unknown>>(value: T): Camelized<T> {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
  ) as Camelized<T>;
}

/** pgsearch's own tuning, camelCased: `sync:` in the YAML file. */
export type SyncOptions = Camelized<z.output<typeof syncSchema>>;
