import { Client, SniffingTransport } from "@elastic/elasticsearch";
import { SinkError } from "../errors.js";
import { registerSecret } from "../observability/redact.js";
import { engineName, rememberEngine, type Engine } from "./engine.js";

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
  /** Which server answered: pgsearch speaks to both through the same client. */
  engine: Engine;
  version: string;
  major: number;
}

type TransportOptions = ConstructorParameters<typeof SniffingTransport>[0];
type VendoredHeaders = NonNullable<TransportOptions["vendoredHeaders"]>;

const PLAIN_JSON: VendoredHeaders = {
  jsonContentType: "application/json",
  ndjsonContentType: "application/x-ndjson",
  accept: "application/json, text/plain",
};

/**
 * Connects to Elasticsearch 8.x or 9.x, or to OpenSearch 2.x or 3.x. Client 9 sends
 * `compatible-with=9` media types that an 8.x server and OpenSearch reject, and checks that every
 * answer comes from Elasticsearch: the server is asked first with plain JSON, then the client is
 * built with the media types (and product check) that server takes.
 */
export async function connectElasticsearch(
  options: ElasticsearchOptions,
  signal?: AbortSignal,
): Promise<ConnectedElasticsearch> {
  const probe = buildClient(options, { engine: "opensearch", major: 0 });
  let server: { engine: Engine; version: string } | undefined;
  try {
    server = await serverInfo(probe, signal);
  } catch (error) {
    throw describeEsError(error, `cannot reach Elasticsearch at ${redactUrl(options.host)}`);
  } finally {
    await probe.close().catch(() => undefined);
  }
  if (server === undefined)
    throw new SinkError(
      `the server at ${redactUrl(options.host)} answered, but it is neither Elasticsearch nor OpenSearch`,
      { code: "sink_unsupported" },
    );
  const major = Number.parseInt(server.version, 10);
  const supported = server.engine === "opensearch" ? major === 2 || major === 3 : major === 8 || major === 9;
  if (!supported) {
    const needs = server.engine === "opensearch" ? "OpenSearch 2.x or 3.x" : "Elasticsearch 8.x or 9.x";
    throw new SinkError(
      `${engineName(server.engine)} ${server.version} is not supported; pgsearch needs ${needs}`,
      {
        code: "sink_unsupported",
      },
    );
  }
  const connected = { engine: server.engine, version: server.version, major };
  const client = buildClient(options, connected);
  rememberEngine(client, server.engine);
  return { client, ...connected };
}

/**
 * A second client for a cluster already connected to (other credentials, such as a connector's
 * own api_key): no request is made, so a wrong key shows up in the first write that uses it.
 */
export function clientWithCredentials(
  options: ElasticsearchOptions,
  connected: Pick<ConnectedElasticsearch, "engine" | "major">,
): Client {
  const client = buildClient(options, connected);
  rememberEngine(client, connected.engine);
  return client;
}

function buildClient(options: ElasticsearchOptions, server: { engine: Engine; major: number }): Client {
  registerSecret(options.apiKey);
  registerSecret(options.password);
  return new Client({
    node: options.host,
    requestTimeout: options.requestTimeoutMs,
    maxRetries: 3,
    // Our own writer compresses nothing: on loopback and LANs compression costs more CPU than it saves.
    compression: false,
    Transport: transportFor(server),
    ...(options.apiKey !== undefined && options.apiKey !== "" ? { auth: { apiKey: options.apiKey } } : {}),
    ...(options.username !== undefined && options.username !== ""
      ? { auth: { username: options.username, password: options.password ?? "" } }
      : {}),
    ...(options.caCerts !== undefined && options.caCerts !== "" ? { tls: { ca: options.caCerts } } : {}),
  });
}

/**
 * The client's transport with the media types the server takes (the client's `Transport`
 * option): `compatible-with=8|9` for Elasticsearch, plain JSON for OpenSearch and for the first
 * question, which also skips the check that the answer comes from Elasticsearch.
 */
function transportFor(server: { engine: Engine; major: number }): typeof SniffingTransport {
  const elasticsearch = server.engine === "elasticsearch";
  const vendoredHeaders: VendoredHeaders = elasticsearch
    ? {
        jsonContentType: `application/vnd.elasticsearch+json; compatible-with=${String(server.major)}`,
        ndjsonContentType: `application/vnd.elasticsearch+x-ndjson; compatible-with=${String(server.major)}`,
        accept: `application/vnd.elasticsearch+json; compatible-with=${String(server.major)},text/plain`,
      }
    : PLAIN_JSON;
  return class EngineTransport extends SniffingTransport {
    constructor(opts: TransportOptions) {
      const { productCheck, ...rest } = opts;
      super({ ...rest, vendoredHeaders, ...(elasticsearch ? { productCheck } : {}) });
    }
  };
}

/**
 * The server's engine and version from `GET /`, or from the local node's info where the root
 * endpoint is absent (Elasticsearch's test distribution ships without the rest-root module).
 * Undefined when the server answers without a version: not a search engine pgsearch knows.
 */
async function serverInfo(
  client: Client,
  signal?: AbortSignal,
): Promise<{ engine: Engine; version: string } | undefined> {
  try {
    const info = await client.transport.request<{ version?: { number?: string; distribution?: string } }>(
      { method: "GET", path: "/" },
      { signal },
    );
    const number = info.version?.number;
    if (typeof number === "string") {
      const engine = info.version?.distribution === "opensearch" ? "opensearch" : "elasticsearch";
      return { engine, version: number };
    }
  } catch (error) {
    const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status !== 405 && status !== 404) throw error;
  }
  try {
    const nodes = await client.transport.request<{ nodes?: Record<string, { version?: string }> }>(
      { method: "GET", path: "/_nodes/_local", querystring: { filter_path: "nodes.*.version" } },
      { signal },
    );
    const version = Object.values(nodes.nodes ?? {})[0]?.version;
    return typeof version === "string" ? { engine: "elasticsearch", version } : undefined;
  } catch (error) {
    const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status === 404 || status === 405) return undefined;
    throw error;
  }
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
  // The client reports a connection that failed (refused, reset) as status 0: no HTTP answer at all.
  const status = err.meta?.statusCode === 0 ? undefined : err.meta?.statusCode;
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
