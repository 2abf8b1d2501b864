import type { ClientConfig } from "pg";
import pg from "pg";
import type { PostgresConfig } from "../config/postgres-config.js";
import { CanceledError, SourceError, throwIfAborted } from "../errors.js";
import { registerSecret } from "../observability/redact.js";

/** The subset of a node-postgres client the source uses; tests and callers pass a real one. */
export type PgClient = pg.Client;

/** Creates connected clients. Injected so the driver is configured in one place. */
export interface ConnectionFactory {
  connect(signal?: AbortSignal): Promise<PgClient>;
  /** "user@host:port/db" with no secret, for messages. */
  readonly description: string;
}

// Every column comes back as text: PostgreSQL itself renders documents as JSON (see reader.ts), so
// the driver must not parse anything (its default json/int8/date parsers would cost time and
// precision).
const rawText = (value: string): string => value;
const RAW_TYPES = { getTypeParser: () => rawText } as unknown as ClientConfig["types"];

export function clientConfig(config: PostgresConfig): ClientConfig {
  registerSecret(config.password);
  const base: ClientConfig = {
    host: config.host,
    port: config.port,
    user: config.username,
    password: config.password,
    database: config.database,
    application_name: "pgsearch",
    connectionTimeoutMillis: config.connectTimeoutMs,
    keepAlive: true,
    types: RAW_TYPES,
  };
  if (config.statementTimeoutMs > 0) base.statement_timeout = config.statementTimeoutMs;
  if (!config.ssl.enabled) return { ...base, ssl: false };
  const { mode, ca, cert, key } = config.ssl;
  return {
    ...base,
    ssl: {
      rejectUnauthorized: mode !== "require",
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      // verify-ca checks the chain but not the host name, as libpq's sslmode=verify-ca does.
      ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    },
  };
}

/** Session settings that make PostgreSQL's JSON rendering match what documents need. */
const SESSION_SETUP = "SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3";

export function connectionFactory(config: PostgresConfig): ConnectionFactory {
  const description = `${config.username}@${config.host}:${config.port}/${config.database}`;
  return {
    description,
    async connect(signal?: AbortSignal): Promise<PgClient> {
      throwIfAborted(signal);
      const client = new pg.Client(clientConfig(config));
      // A dropped connection emits 'error' on the client; without a listener Node would crash.
      client.on("error", () => undefined);
      try {
        await client.connect();
        await client.query(SESSION_SETUP);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw describeConnectError(error, description);
      }
      return client;
    },
  };
}

/** Turns driver errors into SourceErrors that say what to check, never echoing the password. */
export function describeConnectError(error: unknown, description: string): SourceError {
  const err = error as { code?: string; message?: string };
  const message = err.message ?? String(error);
  const sqlState = typeof err.code === "string" && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  let hint = "";
  if (sqlState === "28P01" || sqlState === "28000") hint = " (check username and password)";
  else if (sqlState === "3D000") hint = " (check the database name)";
  else if (/certificate|self.signed|SSL|TLS|altname|hostname/i.test(message))
    hint = " (check ssl_ca and ssl_mode)";
  else if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|timeout/i.test(message)) hint = " (check host and port)";
  return new SourceError(`cannot connect to PostgreSQL ${description}: ${message}${hint}`, {
    code: "source_unreachable",
    retryable: sqlState === undefined || sqlState.startsWith("08") || sqlState === "57P03",
    cause: error,
    ...(sqlState === undefined ? {} : { sqlState }),
  });
}

/** Whether an error means the connection broke (so reconnecting and resuming may help). */
export function isConnectionLost(error: unknown): boolean {
  const err = error as { code?: string; message?: string };
  if (typeof err.code === "string") {
    if (err.code.startsWith("08") || err.code === "57P01" || err.code === "57P02" || err.code === "57P03")
      return true;
    if (["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(err.code)) return true;
  }
  return /Connection terminated|connection.*(closed|lost|ended)|not queryable|ECONNRESET/i.test(
    err.message ?? "",
  );
}

/**
 * Runs a query so that aborting the signal cancels it on the server (a CancelRequest on a side
 * connection) instead of waiting for it to finish.
 */
export async function queryWithSignal<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: PgClient,
  text: string,
  values: unknown[] | undefined,
  signal: AbortSignal | undefined,
): Promise<pg.QueryResult<R>> {
  throwIfAborted(signal);
  if (signal === undefined) return client.query<R>(text, values);
  const onAbort = (): void => {
    cancelBackend(client);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await client.query<R>(text, values);
  } catch (error) {
    if (signal.aborted) throw new CanceledError("canceled", { cause: error });
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Sends PostgreSQL's CancelRequest for whatever the client is running. Fire and forget. */
export function cancelBackend(client: PgClient): void {
  const internal = client as unknown as {
    processID: number | null;
    secretKey: number | null;
    connectionParameters: ClientConfig;
  };
  if (internal.processID === null || internal.secretKey === null) return;
  // pg's Connection speaks the wire protocol; its typings omit connect() and cancel().
  const side = new pg.Connection() as unknown as {
    on(event: string, listener: () => void): void;
    connect(port: number, host: string): void;
    cancel(processID: number | null, secretKey: number | null): void;
  };
  side.on("error", () => undefined);
  const params = internal.connectionParameters as { host?: string; port?: number };
  side.connect(params.port ?? 5432, params.host ?? "localhost");
  side.on("connect", () => {
    side.cancel(internal.processID, internal.secretKey);
  });
}
