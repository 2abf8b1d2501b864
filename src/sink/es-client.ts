import { Client } from "@elastic/elasticsearch";
import { SinkError } from "../errors.js";

export interface ElasticsearchOptions {
  host: string;
  apiKey?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** PEM content or a path of the CA that signed Elasticsearch's certificate. */
  caCerts?: string | undefined;
  requestTimeoutMs: number;
}

export interface ConnectedElasticsearch {
  client: Client;
  version: string;
  major: number;
}

/**
 * Creates a client that speaks to both 8.x and 9.x servers. Client 9 sends
 * `compatible-with=9` headers that an 8.x server rejects, so the server's version is asked first
 * with plain JSON headers and, for 8.x, the client's default headers are switched to
 * `compatible-with=8`.
 */
export async function connectElasticsearch(
  options: ElasticsearchOptions,
  signal?: AbortSignal,
): Promise<ConnectedElasticsearch> {
  const client = buildClient(options);
  let version: string;
  try {
    version = await serverVersion(client, signal);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw describeEsError(error, `cannot reach Elasticsearch at ${redactUrl(options.host)}`);
  }
  const major = Number.parseInt(version, 10);
  if (!(major === 8 || major === 9)) {
    await client.close().catch(() => undefined);
    throw new SinkError(`Elasticsearch ${version} is not supported; pgsearch needs 8.x or 9.x`, {
      code: "sink_unsupported",
    });
  }
  if (major === 8) useCompatHeaders(client, 8);
  return { client, version, major };
}

/**
 * A second client for a cluster already connected to (other credentials, such as a connector's
 * own api_key): no request is made, so a wrong key shows up in the first write that uses it.
 */
export function clientWithCredentials(
  options: ElasticsearchOptions,
  connected: Pick<ConnectedElasticsearch, "major">,
): Client {
  const client = buildClient(options);
  if (connected.major === 8) useCompatHeaders(client, 8);
  return client;
}

function buildClient(options: ElasticsearchOptions): Client {
  return new Client({
    node: options.host,
    requestTimeout: options.requestTimeoutMs,
    maxRetries: 3,
    // Our own writer compresses nothing: on loopback and LANs compression costs more CPU than it saves.
    compression: false,
    ...(options.apiKey !== undefined && options.apiKey !== "" ? { auth: { apiKey: options.apiKey } } : {}),
    ...(options.username !== undefined && options.username !== ""
      ? { auth: { username: options.username, password: options.password ?? "" } }
      : {}),
    ...(options.caCerts !== undefined && options.caCerts !== "" ? { tls: { ca: options.caCerts } } : {}),
  });
}

/**
 * The server's version from `GET /`, or from the local node's info where the root endpoint is
 * absent (the test distributions ship without the rest-root module).
 */
async function serverVersion(client: Client, signal?: AbortSignal): Promise<string> {
  const headers = { accept: "application/json" };
  try {
    const info = await client.transport.request<{ version?: { number?: string } }>(
      { method: "GET", path: "/" },
      { headers, signal },
    );
    if (info.version?.number !== undefined) return info.version.number;
  } catch (error) {
    const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status !== 405 && status !== 404) throw error;
  }
  const nodes = await client.transport.request<{ nodes?: Record<string, { version?: string }> }>(
    { method: "GET", path: "/_nodes/_local", querystring: { filter_path: "nodes.*.version" } },
    { headers, signal },
  );
  return Object.values(nodes.nodes ?? {})[0]?.version ?? "unknown";
}

function useCompatHeaders(client: Client, major: number): void {
  const values: Record<string, string> = {
    "json content type": `application/vnd.elasticsearch+json; compatible-with=${major}`,
    "ndjson content type": `application/vnd.elasticsearch+x-ndjson; compatible-with=${major}`,
    "accept header": `application/vnd.elasticsearch+json; compatible-with=${major},text/plain`,
  };
  const transport = client.transport as unknown as Record<symbol, unknown>;
  let replaced = 0;
  for (const symbol of Object.getOwnPropertySymbols(transport)) {
    const value = symbol.description === undefined ? undefined : values[symbol.description];
    if (value !== undefined) {
      transport[symbol] = value;
      replaced++;
    }
  }
  if (replaced !== 3)
    throw new Error("unexpected @elastic/transport internals: cannot set compatibility headers");
}

/** "https://user:secret@host" → "https://host": URLs may carry credentials. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "<invalid url>";
  }
}

/** Maps client errors to SinkErrors with the HTTP status and Elasticsearch's reason. */
export function describeEsError(error: unknown, context: string): SinkError {
  if (error instanceof SinkError) return error;
  const err = error as {
    name?: string;
    message?: string;
    meta?: { statusCode?: number; body?: { error?: { type?: string; reason?: string } | string } };
  };
  const status = err.meta?.statusCode;
  const body = err.meta?.body?.error;
  const reason =
    typeof body === "string" ? body : body === undefined ? err.message : `${body.type}: ${body.reason}`;
  // HEAD requests (index exists?) carry no body: say what 401/403 mean.
  const hint =
    status === 401
      ? "(Elasticsearch refused the credentials: check api_key, or username and password)"
      : status === 403
        ? "(the credentials lack a privilege this needs)"
        : undefined;
  const detail = [status === undefined ? undefined : `HTTP ${String(status)}`, reason, hint]
    .filter((part) => part !== undefined && part !== "")
    .join(" ");
  const retryable =
    status === undefined
      ? err.name === "ConnectionError" || err.name === "TimeoutError"
      : status === 429 || status >= 500;
  return new SinkError(`${context}: ${detail === "" ? "unknown error" : detail}`, {
    retryable,
    cause: error,
    ...(status === undefined ? {} : { status }),
  });
}
