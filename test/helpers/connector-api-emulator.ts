/**
 * An EMULATOR of Elasticsearch's Connector APIs, for the test cluster that lacks the ent-search
 * module. Each endpoint behaves as Elasticsearch's Java implementation does (connector-api-
 * endpoints.ts names the class and method per endpoint); state lives in the REAL cluster's
 * `.elastic-connectors*` indices. Every other request is forwarded to the real Elasticsearch, so
 * the direct-index backend can run through it too.
 *
 * Every connector and sync-job document read or written through it, by the Connector APIs or by
 * a forwarded request on the system indices, is checked against the parsers' rules
 * (connector-document-rules.ts): a document Elasticsearch would refuse answers 500 and is recorded
 * in `violations`, so the test fails.
 *
 * It also EMULATES the API-key part of the security API, only because the test distribution has
 * no way to create API keys without a security-enabled node: `POST /_security/api_key` issues a
 * key, and a forwarded request presenting an `Authorization: ApiKey ...` it did not issue gets the
 * 401 Elasticsearch would send.
 */
import type { Client } from "@elastic/elasticsearch";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { IndexProtocol } from "../../src/service/index-protocol.js";
import { ApiError, checkedStore, CONNECTORS, route, SYNC_JOBS } from "./connector-api-endpoints.js";
import { documentProblems } from "./connector-document-rules.js";

export interface ConnectorApiEmulator {
  url: string;
  /** "METHOD /path" of every Connector API call answered, to prove the API path was used. */
  calls: string[];
  /** Documents that broke the parsers' rules: "index/id: problem". */
  violations: string[];
  /** Every request with its X-elastic-product-origin header (undefined when absent). */
  productOrigins: { path: string; origin: string | undefined }[];
  /** Bodies of `POST /_security/api_key` requests, in order. */
  apiKeyRequests: Record<string, unknown>[];
  /** Every forwarded request with the credentials it presented. */
  forwarded: { method: string; path: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const kindOf = (index: string): "connector" | "syncJob" | undefined =>
  index.startsWith(SYNC_JOBS) ? "syncJob" : index.startsWith(CONNECTORS) ? "connector" : undefined;

export async function startConnectorApiEmulator(
  target: string,
  client: Client,
): Promise<ConnectorApiEmulator> {
  // The system indices exist before any API call, as Elasticsearch's index templates make them.
  await new IndexProtocol(client).prepare();
  const calls: string[] = [];
  const violations: string[] = [];
  const productOrigins: ConnectorApiEmulator["productOrigins"] = [];
  const apiKeyRequests: Record<string, unknown>[] = [];
  const forwarded: ConnectorApiEmulator["forwarded"] = [];
  const issuedKeys = new Set<string>();

  // The cluster is shared with other test files: a search returns their documents too. Search
  // hits are checked only for connectors this emulator saw by id (and their jobs).
  const known = new Set<string>();
  const check = (index: string, id: string, doc: Record<string, unknown>, fromSearch = false): void => {
    const kind = kindOf(index);
    if (kind === undefined) return;
    const connectorId = kind === "connector" ? id : (doc.connector as { id?: string } | undefined)?.id;
    if (kind === "connector" && !fromSearch) known.add(id);
    if (connectorId === undefined || !known.has(connectorId)) return;
    const problems = documentProblems(kind, doc);
    if (problems.length === 0) return;
    for (const problem of problems) violations.push(`${index}/${id}: ${problem}`);
    throw new ApiError(
      500,
      "document_parsing_exception",
      `${index}/${id} would be refused: ${problems.join("; ")}`,
    );
  };
  const store = checkedStore(client, check);
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
    res.end(JSON.stringify(body));
  };

  /** After a forwarded read or write on a system index: check the documents it touched. */
  const checkForwarded = async (method: string, parts: string[], response: Buffer): Promise<void> => {
    const index = parts[0] ?? "";
    if (kindOf(index) === undefined) return;
    const body = JSON.parse(response.toString("utf8") || "{}") as {
      _id?: string;
      _source?: Record<string, unknown>;
      found?: boolean;
      hits?: { hits?: { _id?: string; _index: string; _source?: Record<string, unknown> }[] };
    };
    if (parts[1] === "_search") {
      for (const hit of body.hits?.hits ?? [])
        if (hit._source) check(hit._index, hit._id ?? "", hit._source, true);
    } else if (method === "GET" && parts[1] === "_doc" && body._source !== undefined) {
      check(index, body._id ?? "", body._source);
    } else if (["_doc", "_update", "_create"].includes(parts[1] ?? "") && body._id !== undefined) {
      await store.get(index, body._id);
    }
  };

  const forward = async (
    req: IncomingMessage,
    res: ServerResponse,
    payload: Buffer,
    parts: string[],
  ): Promise<void> => {
    const method = req.method ?? "GET";
    const authorization = req.headers.authorization;
    forwarded.push({ method, path: `/${parts.join("/")}`, authorization });
    if (authorization?.startsWith("ApiKey ") === true && !issuedKeys.has(authorization.slice(7)))
      throw new ApiError(401, "security_exception", "unable to authenticate with provided credentials");
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "content-length", "connection"].includes(name))
        headers[name] = value;
    }
    const response = await fetch(new URL(req.url ?? "/", target), {
      method,
      headers,
      ...(payload.length > 0 ? { body: payload } : {}),
    });
    const answer = Buffer.from(await response.arrayBuffer());
    if (response.ok) await checkForwarded(method, parts, answer);
    res.writeHead(response.status, {
      "content-type": response.headers.get("content-type") ?? "application/json",
      "x-elastic-product": "Elasticsearch",
    });
    res.end(answer);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const payload = await readBody(req);
    const url = new URL(req.url ?? "/", target);
    const method = req.method ?? "GET";
    const parts = url.pathname
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    productOrigins.push({
      path: url.pathname,
      origin: req.headers["x-elastic-product-origin"] as string | undefined,
    });
    // Only the emulated endpoints take JSON; forwarded bodies (NDJSON for _bulk) stay as they are.
    const json = (): Record<string, unknown> =>
      payload.length > 0 ? (JSON.parse(payload.toString("utf8")) as Record<string, unknown>) : {};
    if (parts[0] === "_connector") {
      calls.push(`${method} ${url.pathname}`);
      const found = route(method, parts);
      if (found === undefined)
        throw new ApiError(
          400,
          "emulator_unsupported",
          `the emulator does not implement ${method} ${url.pathname}`,
        );
      send(
        res,
        200,
        await found.endpoint.handle(
          store,
          { method, parts, query: url.searchParams, body: json() },
          found.params,
        ),
      );
      return;
    }
    if (parts[0] === "_security" && parts[1] === "api_key" && (method === "POST" || method === "PUT")) {
      const body = json();
      apiKeyRequests.push(body);
      const id = randomBytes(10).toString("base64url");
      const apiKey = randomBytes(16).toString("base64url");
      const encoded = Buffer.from(`${id}:${apiKey}`).toString("base64");
      issuedKeys.add(encoded);
      send(res, 200, { id, name: body.name, api_key: apiKey, encoded });
      return;
    }
    await forward(req, res, payload, parts);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof ApiError ? e.status : 500;
      const type = e instanceof ApiError ? e.type : "emulator_error";
      if (!res.headersSent)
        send(res, status, { error: { type, reason: e instanceof Error ? e.message : String(e) }, status });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    calls,
    violations,
    productOrigins,
    apiKeyRequests,
    forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
