/**
 * Secrets never reach a log line, an error printed to the terminal, or a job's error in Kibana.
 * Field-based redaction (REDACT_PATHS in logger.ts) covers structured fields; this covers free
 * text: a server's error message, an exception's text, a URL pasted into a message.
 */

/** Secret values this process was given (passwords, API keys), masked wherever they appear. */
const knownSecrets = new Set<string>();

/** Shorter values are not masked: masking "ab" everywhere would garble every line. */
const MIN_SECRET_LENGTH = 4;

/**
 * Remembers a secret so free text never shows it. Called where credentials are handed to a driver
 * (PostgreSQL connection, Elasticsearch client), so both the CLI and the service's connector
 * configurations from Kibana are covered.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  knownSecrets.add(value);
  // A value also shows up JSON-escaped inside a log line's string.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) knownSecrets.add(escaped);
}

/**
 * Masks credentials in text: registered secret values; `scheme://user:PASSWORD@` (a connection
 * URL); `password=...` of a libpq string; `Authorization` header values (Basic, ApiKey, Bearer).
 */
export function redactCredentials(text: string): string {
  let out = text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]*):([^\s@/]*)@/gi, "$1$2:***@")
    .replace(/(password\s*=\s*)('[^']*'|[^\s"]+)/gi, "$1***")
    .replace(/\b(Basic|ApiKey|Bearer) [A-Za-z0-9+/=._~-]{8,}/g, "$1 ***");
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join("***");
  return out;
}
