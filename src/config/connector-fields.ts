/**
 * The connector's configuration fields, defined once. The same list validates standalone YAML
 * values and produces the "rich configurable fields" a connector document carries for Kibana.
 * Keys, labels, types, defaults and order follow the reference (Kibana's `postgresql` definition);
 * fields from order 12 on are pgsearch's additions, all optional and marked "advanced".
 */
export type FieldType = "str" | "int" | "list" | "bool";
/** Elasticsearch accepts "text" too (Python's default), which the generated client types omit. */
export type FieldDisplay = "text" | "textbox" | "textarea" | "numeric" | "toggle" | "dropdown";

export interface FieldDefinition {
  key: string;
  label: string;
  type: FieldType;
  display: FieldDisplay;
  order: number;
  required: boolean;
  sensitive: boolean;
  /** Value used when a non-required field is empty. */
  defaultValue: string | number | boolean | null;
  /** Initial value written at self-registration. */
  value: string | number | boolean;
  tooltip: string;
  uiRestrictions: string[];
  dependsOn: { field: string; value: string | number | boolean }[];
  options: { label: string; value: string }[];
  /** Inclusive numeric range checked on resolution (not a Kibana validation). */
  range?: [number, number];
}

export interface RichField {
  label: string;
  display: FieldDisplay;
  type: FieldType;
  default_value: string | number | boolean | null;
  value: string | number | boolean;
  required: boolean;
  sensitive: boolean;
  depends_on: { field: string; value: string | number | boolean }[];
  order: number;
  tooltip: string;
  ui_restrictions: string[];
  options: { label: string; value: string }[];
  validations: unknown[];
}

const SSL_ON = [{ field: "ssl_enabled", value: true }];

function field(
  key: string,
  order: number,
  label: string,
  partial: Partial<Omit<FieldDefinition, "key" | "order" | "label">>,
): FieldDefinition {
  return {
    key,
    order,
    label,
    type: "str",
    display: "textbox",
    required: true,
    sensitive: false,
    defaultValue: "",
    value: "",
    tooltip: "",
    uiRestrictions: [],
    dependsOn: [],
    options: [],
    ...partial,
  };
}

const advanced = { required: false, uiRestrictions: ["advanced"] };

export const CONNECTOR_FIELDS: readonly FieldDefinition[] = [
  field("host", 1, "Host", {}),
  field("port", 2, "Port", {
    type: "int",
    display: "numeric",
    defaultValue: 5432,
    value: 5432,
    range: [1, 65535],
  }),
  field("username", 3, "Username", {}),
  field("password", 4, "Password", { sensitive: true }),
  field("database", 5, "Database", {}),
  field("schema", 6, "Schema", { tooltip: "Several schemas may be given, separated by commas." }),
  field("tables", 7, "Comma-separated list of tables", {
    type: "list",
    display: "textarea",
    value: "*",
    defaultValue: "*",
    tooltip: "This configurable field is ignored when Advanced Sync Rules are used.",
  }),
  field("fetch_size", 8, "Rows fetched per request", {
    ...advanced,
    type: "int",
    display: "numeric",
    defaultValue: 50,
    value: 50,
    range: [1, 100000],
  }),
  field("retry_count", 9, "Retries per request", {
    ...advanced,
    type: "int",
    display: "numeric",
    defaultValue: 3,
    value: 3,
    range: [0, 100],
  }),
  field("ssl_enabled", 10, "Enable SSL", {
    type: "bool",
    display: "toggle",
    defaultValue: false,
    value: false,
    tooltip: "Enable SSL verification.",
  }),
  field("ssl_ca", 11, "SSL certificate", {
    dependsOn: SSL_ON,
    tooltip: "PEM content of the CA that signed the server's certificate.",
  }),
  field("ssl_mode", 12, "SSL mode", {
    ...advanced,
    display: "dropdown",
    defaultValue: "verify-full",
    value: "verify-full",
    dependsOn: SSL_ON,
    options: ["require", "verify-ca", "verify-full"].map((v) => ({ label: v, value: v })),
    tooltip: "require: encrypt only; verify-ca: also check the CA; verify-full: also check the host name.",
  }),
  field("ssl_cert", 13, "SSL client certificate", {
    ...advanced,
    dependsOn: SSL_ON,
    tooltip: "PEM client certificate, for mutual TLS.",
  }),
  field("ssl_key", 14, "SSL client key", {
    ...advanced,
    sensitive: true,
    dependsOn: SSL_ON,
    tooltip: "PEM private key of the client certificate.",
  }),
  field("connect_timeout", 15, "Connect timeout (seconds)", {
    ...advanced,
    type: "int",
    display: "numeric",
    defaultValue: 10,
    value: 10,
    range: [1, 3600],
  }),
  field("statement_timeout", 16, "Statement timeout (seconds, 0 = none)", {
    ...advanced,
    type: "int",
    display: "numeric",
    defaultValue: 0,
    value: 0,
    range: [0, 86400],
  }),
  field("document_mode", 17, "Document mode", {
    ...advanced,
    display: "dropdown",
    defaultValue: "compat",
    value: "compat",
    options: [
      { label: "compat (ids and fields as Elastic's connector)", value: "compat" },
      { label: "clean (plain column names)", value: "clean" },
    ],
  }),
  field("max_document_size", 18, "Maximum document size (bytes)", {
    ...advanced,
    type: "int",
    display: "numeric",
    defaultValue: 10485760,
    value: 10485760,
    range: [1024, 104857600],
  }),
  field("follow_changes", 19, "Follow changes continuously", {
    ...advanced,
    type: "bool",
    display: "toggle",
    defaultValue: false,
    value: false,
    tooltip:
      "Stream changes through logical replication after a full sync (needs wal_level = logical and a user allowed to create publications and replication slots).",
  }),
];

/** The configuration object registered in a new connector document (values set to defaults). */
export function defaultConnectorConfiguration(): Record<string, RichField> {
  const result: Record<string, RichField> = {};
  for (const f of CONNECTOR_FIELDS) {
    result[f.key] = {
      label: f.label,
      display: f.display,
      type: f.type,
      default_value: f.defaultValue,
      value: f.value,
      required: f.required,
      sensitive: f.sensitive,
      depends_on: f.dependsOn,
      order: f.order,
      tooltip: f.tooltip,
      ui_restrictions: f.uiRestrictions,
      options: f.options,
      validations: [],
    };
  }
  return result;
}
