/**
 * The shapes Elasticsearch's own parsers accept for connector and sync-job documents, ported as
 * DATA from the ent-search plugin's source (x-pack/plugin/ent-search/src/main/java/org/
 * elasticsearch/xpack/application/connector/, read at elastic/elasticsearch commits 1bb4d6f0
 * (Connector, ConnectorScheduling, ConnectorFiltering), fb3ff2f3 (ConnectorSyncJob,
 * ConnectorConfiguration, ConnectorIngestPipeline), 855658d5, b352e933, ff55729c, 06b06246,
 * e551c8a4 (filtering/*)). One entry per object: each field's type, and whether the parser
 * requires it (`constructorArg`) or Elasticsearch always writes it (`written`: the builder fills
 * a default that toXContent then writes, so a document Elasticsearch made always has it).
 * `GET _connector`, `GET _connector/_sync_job` and Kibana's connector pages fail on a document
 * that breaks these rules.
 */

export type ShapeName =
  | "connector"
  | "scheduling"
  | "scheduleConfig"
  | "connectorFiltering"
  | "filteringRules"
  | "advancedSnippet"
  | "filteringRule"
  | "validationInfo"
  | "validationError"
  | "pipeline"
  | "configurationField"
  | "syncJob"
  | "syncJobConnector";

type Scalar =
  | "string"
  | "boolean"
  | "long"
  | "int"
  | "date"
  | "object"
  | "scalar"
  | "value"
  | "objectOrArray"
  | "stringArray"
  | "cron";
type FieldType =
  | Scalar
  | { shape: ShapeName }
  | { arrayOf: ShapeName | "object" }
  | { mapOf: ShapeName }
  | { enum: readonly string[] };

interface Field {
  type: FieldType;
  /** `required`: the parser's constructorArg; `written`: always written by Elasticsearch. */
  presence?: "required" | "written";
  nullable?: boolean;
}

interface Shape {
  source: string;
  fields: Record<string, Field>;
}

const SYNC_STATUS = [
  "canceling",
  "canceled",
  "completed",
  "error",
  "in_progress",
  "pending",
  "suspended",
] as const;
const req = (type: FieldType, nullable = false): Field => ({ type, presence: "required", nullable });
const opt = (type: FieldType, nullable = true): Field => ({ type, nullable });
const written = (type: FieldType, nullable = false): Field => ({ type, presence: "written", nullable });

export const SHAPES: Record<ShapeName, Shape> = {
  connector: {
    source: "Connector.java (PARSER)",
    fields: {
      api_key_id: opt("string"),
      api_key_secret_id: opt("string"),
      configuration: opt({ mapOf: "configurationField" }, false),
      custom_scheduling: opt("object", false),
      description: opt("string"),
      error: opt("string"),
      features: opt("object"),
      filtering: opt({ arrayOf: "connectorFiltering" }, false),
      index_name: opt("string"),
      is_native: opt("boolean", false),
      language: opt("string"),
      last_seen: opt("date"),
      last_access_control_sync_error: opt("string"),
      last_access_control_sync_scheduled_at: opt("date"),
      last_access_control_sync_status: opt({ enum: SYNC_STATUS }),
      last_deleted_document_count: opt("long"),
      last_incremental_sync_scheduled_at: opt("date"),
      last_indexed_document_count: opt("long"),
      last_sync_error: opt("string"),
      last_sync_scheduled_at: opt("date"),
      last_sync_status: opt({ enum: SYNC_STATUS }),
      last_synced: opt("date"),
      name: opt("string"),
      pipeline: opt({ shape: "pipeline" }),
      scheduling: opt({ shape: "scheduling" }, false),
      service_type: opt("string"),
      status: opt({ enum: ["created", "needs_configuration", "configured", "connected", "error"] }, false),
      sync_cursor: opt("object"),
      sync_now: opt("boolean", false),
      deleted: opt("boolean", false),
    },
  },
  // ConnectorScheduling.getDefaultConnectorScheduling writes all three; Kibana reads all three.
  scheduling: {
    source: "ConnectorScheduling.java (PARSER, getDefaultConnectorScheduling)",
    fields: {
      access_control: written({ shape: "scheduleConfig" }),
      full: written({ shape: "scheduleConfig" }),
      incremental: written({ shape: "scheduleConfig" }),
    },
  },
  scheduleConfig: {
    source: "ConnectorScheduling.java (ScheduleConfig.PARSER)",
    fields: { enabled: req("boolean"), interval: req("cron") },
  },
  connectorFiltering: {
    source: "ConnectorFiltering.java (PARSER)",
    fields: { active: req({ shape: "filteringRules" }), draft: req({ shape: "filteringRules" }) },
  },
  filteringRules: {
    source: "filtering/FilteringRules.java (PARSER)",
    fields: {
      advanced_snippet: req({ shape: "advancedSnippet" }),
      rules: req({ arrayOf: "filteringRule" }),
      validation: req({ shape: "validationInfo" }),
    },
  },
  advancedSnippet: {
    source: "filtering/FilteringAdvancedSnippet.java (PARSER; the Builder defaults the timestamps to now)",
    fields: { created_at: written("date"), updated_at: written("date"), value: req("objectOrArray") },
  },
  filteringRule: {
    source: "filtering/FilteringRule.java (PARSER)",
    fields: {
      created_at: written("date"),
      field: req("string"),
      id: req("string"),
      order: req("int"),
      policy: req({ enum: ["exclude", "include"] }),
      rule: req({ enum: ["contains", "ends_with", "equals", ">", "<", "regex", "starts_with"] }),
      updated_at: written("date"),
      value: req("string"),
    },
  },
  validationInfo: {
    source: "filtering/FilteringValidationInfo.java (PARSER)",
    fields: {
      errors: req({ arrayOf: "validationError" }),
      state: req({ enum: ["edited", "invalid", "valid"] }),
    },
  },
  validationError: {
    source: "filtering/FilteringValidation.java (PARSER)",
    fields: { ids: req("stringArray"), messages: req("stringArray") },
  },
  pipeline: {
    source: "ConnectorIngestPipeline.java (PARSER)",
    fields: {
      extract_binary_content: req("boolean"),
      name: req("string"),
      reduce_whitespace: req("boolean"),
      run_ml_inference: req("boolean"),
    },
  },
  configurationField: {
    source: "ConnectorConfiguration.java (PARSER)",
    fields: {
      category: opt("string", false),
      default_value: opt("scalar"),
      depends_on: opt({ arrayOf: "object" }, false),
      display: opt("string"),
      label: req("string"),
      options: opt({ arrayOf: "object" }, false),
      order: opt("int", false),
      placeholder: opt("string"),
      required: opt("boolean", false),
      sensitive: opt("boolean", false),
      tooltip: opt("string"),
      type: opt("string"),
      ui_restrictions: opt("stringArray", false),
      validations: opt({ arrayOf: "object" }, false),
      value: opt("value"),
    },
  },
  syncJob: {
    source: "syncjob/ConnectorSyncJob.java (PARSER)",
    fields: {
      cancelation_requested_at: opt("date"),
      canceled_at: opt("date"),
      completed_at: opt("date"),
      connector: req({ shape: "syncJobConnector" }),
      created_at: req("date"),
      deleted_document_count: req("long"),
      error: opt("string"),
      indexed_document_count: req("long"),
      indexed_document_volume: req("long"),
      job_type: req({ enum: ["full", "incremental", "access_control"] }),
      last_seen: req("date", true),
      metadata: req("object"),
      started_at: opt("date"),
      status: req({ enum: SYNC_STATUS }),
      total_document_count: req("long", true),
      trigger_method: req({ enum: ["on_demand", "scheduled"] }),
      worker_hostname: opt("string"),
    },
  },
  syncJobConnector: {
    source: "syncjob/ConnectorSyncJob.java (SYNC_JOB_CONNECTOR_PARSER)",
    fields: {
      id: opt("string", false),
      filtering: opt({ shape: "filteringRules" }),
      index_name: opt("string"),
      language: opt("string"),
      pipeline: opt({ shape: "pipeline" }),
      service_type: opt("string"),
      configuration: opt({ mapOf: "configurationField" }, false),
    },
  },
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Quartz cron as Elasticsearch's `Cron` accepts it: 6 or 7 space-separated fields. */
const isCron = (v: unknown): boolean =>
  typeof v === "string" && [6, 7].includes(v.trim().split(/\s+/).length);

function checkScalar(type: Scalar, value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "long":
    case "int":
      return typeof value === "number" && Number.isInteger(value);
    case "date":
      return typeof value === "string" && !Number.isNaN(Date.parse(value));
    case "object":
      return isObject(value);
    case "scalar":
      return ["string", "number", "boolean"].includes(typeof value);
    case "value":
      return ["string", "number", "boolean"].includes(typeof value) || isObject(value);
    case "objectOrArray":
      return isObject(value) || Array.isArray(value);
    case "stringArray":
      return Array.isArray(value) && value.every((item) => typeof item === "string");
    case "cron":
      return isCron(value);
  }
}

function checkField(path: string, field: Field, value: unknown, problems: string[]): void {
  if (value === null) {
    if (field.nullable !== true) problems.push(`${path}: must not be null`);
    return;
  }
  const type = field.type;
  if (typeof type === "string") {
    if (!checkScalar(type, value)) problems.push(`${path}: expected ${type}, got ${JSON.stringify(value)}`);
  } else if ("enum" in type) {
    if (typeof value !== "string" || !type.enum.includes(value))
      problems.push(`${path}: expected one of ${type.enum.join(", ")}, got ${JSON.stringify(value)}`);
  } else if ("shape" in type) {
    checkShape(type.shape, value, path, problems);
  } else if ("arrayOf" in type) {
    if (!Array.isArray(value)) problems.push(`${path}: expected an array`);
    else
      value.forEach((item, i) => {
        if (type.arrayOf === "object") {
          if (!isObject(item)) problems.push(`${path}[${String(i)}]: expected an object`);
        } else checkShape(type.arrayOf, item, `${path}[${String(i)}]`, problems);
      });
  } else if (!isObject(value)) problems.push(`${path}: expected an object`);
  else
    for (const [key, item] of Object.entries(value)) checkShape(type.mapOf, item, `${path}.${key}`, problems);
}

function checkShape(name: ShapeName, value: unknown, path: string, problems: string[]): void {
  if (!isObject(value)) {
    problems.push(`${path || name}: expected an object (${SHAPES[name].source})`);
    return;
  }
  const shape: Shape = SHAPES[name];
  for (const [key, field] of Object.entries(shape.fields)) {
    const at = path === "" ? key : `${path}.${key}`;
    if (!(key in value)) {
      if (field.presence !== undefined)
        problems.push(`${at}: missing (${field.presence} by ${shape.source})`);
      continue;
    }
    checkField(at, field, value[key], problems);
  }
}

/** Every way the document breaks the parser's rules; empty when Elasticsearch would accept it. */
export function documentProblems(kind: "connector" | "syncJob", doc: unknown): string[] {
  const problems: string[] = [];
  checkShape(kind, doc, "", problems);
  return problems;
}
