import { ConfigError, ConfigErrors } from "../errors.js";
import { CONNECTOR_FIELDS, type FieldDefinition } from "./connector-fields.js";

export interface PostgresConfig {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  /** At least one. */
  schemas: string[];
  /** ["*"] or explicit names; an entry may be "schema.table". */
  tables: string[];
  fetchSize: number;
  retryCount: number;
  ssl: {
    enabled: boolean;
    mode: "require" | "verify-ca" | "verify-full";
    ca?: string;
    cert?: string;
    key?: string;
  };
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  documentMode: "compat" | "clean";
  maxDocumentBytes: number;
  /** Service mode: follow changes through logical replication after a full sync. */
  followChanges: boolean;
}

type Scalar = string | number | boolean;

/** Accepts `{host: "x"}` (our YAML) and `{host: {value: "x", ...}}` (a connector document). */
function plainValue(raw: unknown): unknown {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && "value" in raw) {
    return raw.value;
  }
  return raw;
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

type Values = Map<string, Scalar | string[]>;
type FieldPath = (key: string) => string;

/**
 * Resolves and validates the connector configuration like the reference does (comma lists,
 * int/bool coercion, defaults for empty optional fields, depends_on), collecting every problem
 * into one ConfigErrors. Messages name the field and never contain a sensitive value.
 */
export function resolvePostgresConfig(
  raw: Record<string, unknown>,
  fieldPrefix = "configuration",
): PostgresConfig {
  const path: FieldPath = (key) => (fieldPrefix === "" ? key : `${fieldPrefix}.${key}`);
  const errors = unknownFieldErrors(raw, path);
  const values = resolveFieldValues(raw, path, errors);
  const str = (key: string): string => String(values.get(key) ?? "");
  const num = (key: string): number => Number(values.get(key) ?? 0);
  const ssl = resolveSsl(values, path, errors);
  const documentMode = str("document_mode") || "compat";
  if (documentMode !== "compat" && documentMode !== "clean") {
    errors.push(new ConfigError(path("document_mode"), `must be "compat" or "clean", got "${documentMode}"`));
  }
  if (errors.length > 0) throw new ConfigErrors(errors);

  return {
    host: str("host").trim(),
    port: num("port"),
    username: str("username"),
    password: str("password"),
    database: str("database").trim(),
    schemas: splitList(str("schema")),
    tables: (values.get("tables") as string[] | undefined) ?? ["*"],
    fetchSize: num("fetch_size"),
    retryCount: num("retry_count"),
    ssl,
    connectTimeoutMs: num("connect_timeout") * 1000,
    statementTimeoutMs: num("statement_timeout") * 1000,
    documentMode: documentMode as PostgresConfig["documentMode"],
    maxDocumentBytes: num("max_document_size"),
    followChanges: values.get("follow_changes") === true,
  };
}

/** One error per key that is no connector field, with the closest field name as a hint. */
function unknownFieldErrors(raw: Record<string, unknown>, path: FieldPath): ConfigError[] {
  const errors: ConfigError[] = [];
  const known = new Set(CONNECTOR_FIELDS.map((f) => f.key));
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) {
      const suggestion = closest(key, [...known]);
      errors.push(
        new ConfigError(
          path(key),
          `unknown field${suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`}`,
        ),
      );
    }
  }
  return errors;
}

/** Every field whose depends_on holds, converted or defaulted, in the fields' display order. */
function resolveFieldValues(raw: Record<string, unknown>, path: FieldPath, errors: ConfigError[]): Values {
  const plain = new Map<string, unknown>(Object.entries(raw).map(([k, v]) => [k, plainValue(v)]));
  const values: Values = new Map();
  const dependsMet = (f: FieldDefinition): boolean =>
    f.dependsOn.every(
      (d) => values.get(d.field) === d.value || String(values.get(d.field)) === String(d.value),
    );

  for (const f of [...CONNECTOR_FIELDS].sort((a, b) => a.order - b.order)) {
    if (!dependsMet(f)) continue;
    const value = plain.get(f.key);
    if (isEmpty(value) && f.key === "ssl_ca") {
      // Checked by resolveSsl: only verify-ca and verify-full need it.
      values.set(f.key, "");
    } else if (isEmpty(value)) {
      const fallback = emptyFieldValue(f, plain);
      if (fallback === undefined) errors.push(new ConfigError(path(f.key), `'${f.label}' cannot be empty.`));
      else values.set(f.key, fallback);
    } else {
      const converted = convert(f, value);
      if (converted instanceof ConfigError) {
        errors.push(new ConfigError(path(f.key), converted.message.replace(/^[^:]*: /, "")));
      } else values.set(f.key, converted);
    }
  }
  return values;
}

/** What an empty field resolves to: its default, or undefined when it is required and has none. */
function emptyFieldValue(f: FieldDefinition, plain: Map<string, unknown>): Scalar | string[] | undefined {
  if (
    f.required &&
    f.type !== "bool" &&
    !(f.type === "int" && f.defaultValue !== null && f.defaultValue !== "")
  ) {
    if (f.type === "list" && f.defaultValue !== "") return splitList(String(f.defaultValue));
    // With a client certificate, PostgreSQL may authenticate by certificate alone.
    const certificateLogin = f.key === "password" && !isEmpty(plain.get("ssl_cert"));
    return certificateLogin ? "" : undefined;
  }
  const fallback = f.defaultValue ?? "";
  return f.type === "list" ? splitList(String(fallback)) : fallback;
}

/** The TLS settings: mode, and PEM material checked for shape and completeness. */
function resolveSsl(values: Values, path: FieldPath, errors: ConfigError[]): PostgresConfig["ssl"] {
  const str = (key: string): string => String(values.get(key) ?? "");
  const sslEnabled = values.get("ssl_enabled") === true;
  const mode = (
    sslEnabled ? str("ssl_mode") || "verify-full" : "verify-full"
  ) as PostgresConfig["ssl"]["mode"];
  if (sslEnabled && !["require", "verify-ca", "verify-full"].includes(mode)) {
    errors.push(
      new ConfigError(path("ssl_mode"), `must be one of require, verify-ca, verify-full, got "${mode}"`),
    );
  }
  let ca: string | undefined;
  if (sslEnabled && str("ssl_ca") !== "") {
    ca = normalizePem(str("ssl_ca"));
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      errors.push(new ConfigError(path("ssl_ca"), "must be PEM content (-----BEGIN CERTIFICATE----- ...)"));
    }
  } else if (sslEnabled && mode !== "require") {
    errors.push(
      new ConfigError(path("ssl_ca"), `'SSL certificate' cannot be empty when ssl_mode is ${mode}.`),
    );
  }
  const cert = sslEnabled && str("ssl_cert") !== "" ? normalizePem(str("ssl_cert")) : undefined;
  const key = sslEnabled && str("ssl_key") !== "" ? normalizePem(str("ssl_key")) : undefined;
  if ((cert === undefined) !== (key === undefined)) {
    errors.push(
      new ConfigError(
        path(cert === undefined ? "ssl_cert" : "ssl_key"),
        "ssl_cert and ssl_key must be given together",
      ),
    );
  }
  return {
    enabled: sslEnabled,
    mode,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}

function convert(f: FieldDefinition, value: unknown): Scalar | string[] | ConfigError {
  // Never echo a sensitive value back in an error.
  const shown = f.sensitive ? "(hidden)" : JSON.stringify(value);
  switch (f.type) {
    case "int": {
      const n =
        typeof value === "number"
          ? value
          : typeof value === "string" && /^\s*-?\d+\s*$/.test(value)
            ? Number(value)
            : NaN;
      if (!Number.isInteger(n))
        return new ConfigError(f.key, `must be an integer${rangeText(f)}, got ${shown}`);
      if (f.range !== undefined && (n < f.range[0] || n > f.range[1])) {
        return new ConfigError(f.key, `must be an integer${rangeText(f)}, got ${shown}`);
      }
      return n;
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      if (typeof value === "string" && /^(true|false|yes|no|on|off|1|0)$/i.test(value.trim())) {
        return /^(true|yes|on|1)$/i.test(value.trim());
      }
      return new ConfigError(f.key, `must be true or false, got ${shown}`);
    }
    case "list": {
      if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter((v) => v !== "");
      if (typeof value === "string") return splitList(value);
      return new ConfigError(f.key, `must be a comma-separated list, got ${shown}`);
    }
    default: {
      if (typeof value === "string") {
        if (f.options.length > 0 && !f.options.some((o) => o.value === value.trim())) {
          return new ConfigError(
            f.key,
            `must be one of ${f.options.map((o) => o.value).join(", ")}, got ${shown}`,
          );
        }
        return f.options.length > 0 ? value.trim() : value;
      }
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      return new ConfigError(f.key, `must be a string, got ${f.sensitive ? "(hidden)" : typeof value}`);
    }
  }
}

function rangeText(f: FieldDefinition): string {
  return f.range === undefined ? "" : ` between ${f.range[0]} and ${f.range[1]}`;
}

/** Comma-separated list, trimmed, empties dropped (the reference's list coercion). */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/**
 * PEM pasted into a one-line text box loses its line breaks; rebuild them (as Python's
 * get_pem_format does), for every block in the text.
 */
export function normalizePem(text: string): string {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length === 0) return text.trim();
  return blocks
    .map(([, label, body]) => {
      const base64 = (body ?? "").replace(/\s+/g, "");
      const lines = base64.match(/.{1,64}/g) ?? [];
      return `-----BEGIN ${label ?? ""}-----\n${lines.join("\n")}\n-----END ${label ?? ""}-----\n`;
    })
    .join("");
}

/** The known name closest to `name` (edit distance ≤ 2), for "did you mean" hints. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d <= 2 && (best === undefined || d < best.distance)) best = { name: candidate, distance: d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const temp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = temp;
    }
  }
  return row[b.length] ?? 0;
}
