/**
 * An EMULATOR of Elasticsearch's Connector APIs, for the test cluster that lacks the ent-search
 * module. It implements only the endpoints pgsearch calls (per the REST API specification:
 * connector.list, connector.check_in, connector.sync_job_post, connector.sync_job_claim,
 * connector.sync_job_update_stats, connector.update_filtering_validation,
 * connector.update_active_filtering) and stores their state in the REAL cluster's
 * `.elastic-connectors*` indices; every other request is forwarded to the real Elasticsearch.
 *
 * It also EMULATES the API-key part of the security API (the test distribution has no security
 * module): `POST /_security/api_key` issues a key, and a forwarded request that presents an
 * `Authorization: ApiKey ...` the emulator did not issue gets the 401 Elasticsearch would send.
 */
import type { Client } from "@elastic/elasticsearch";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CONNECTORS_INDEX, IndexProtocol, JOBS_INDEX } from "../../src/service/index-protocol.js";
import type { ConnectorDocument } from "../../src/service/protocol.js";

export interface ConnectorApiEmulator {
  url: string;
  /** "METHOD /path" of every Connector API call answered, to prove the API path was used. */
  calls: string[];
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

export async function startConnectorApiEmulator(
  target: string,
  client: Client,
): Promise<ConnectorApiEmulator> {
  const store = new IndexProtocol(client);
  await store.prepare();
  const calls: string[] = [];
  const apiKeyRequests: Record<string, unknown>[] = [];
  const forwarded: ConnectorApiEmulator["forwarded"] = [];
  const issuedKeys = new Set<string>();
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, type: string, reason: string): true => {
    send(res, status, { error: { type, reason }, status });
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    const payload = await readBody(req);
    const url = new URL(req.url ?? "/", target);
    const method = req.method ?? "GET";
    const parts = url.pathname
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    // Only the emulated endpoints take JSON; forwarded bodies (NDJSON for _bulk) stay as they are.
    const emulated = parts[0] === "_connector" || parts[0] === "_security";
    const body =
      emulated && payload.length > 0 ? (JSON.parse(payload.toString("utf8")) as Record<string, unknown>) : {};
    if (parts[0] === "_connector") {
      calls.push(`${method} ${url.pathname}`);
      if (method === "GET" && parts.length === 1) {
        const result = await client.search<ConnectorDocument>({
          index: CONNECTORS_INDEX,
          size: Number(url.searchParams.get("size") ?? 100),
        });
        send(res, 200, {
          count: result.hits.hits.length,
          results: result.hits.hits.map((h) => ({ id: h._id, ...h._source })),
        });
        return;
      }
      if (parts[1] === "_sync_job") {
        if (method === "POST" && parts.length === 2) {
          const connector = await store.getConnector(String(body.id));
          if (connector === undefined)
            return error(
              res,
              404,
              "resource_not_found_exception",
              `connector [${String(body.id)}] not found`,
            );
          const id = await store.createJob(
            connector,
            (body.job_type as "full" | "incremental" | undefined) ?? "full",
            (body.trigger_method as "on_demand" | "scheduled" | undefined) ?? "on_demand",
          );
          send(res, 200, { id });
          return;
        }
        const jobId = parts[2] ?? "";
        const job = await store.getJob(jobId);
        if (job === undefined)
          return error(res, 404, "resource_not_found_exception", `sync job [${jobId}] not found`);
        // ConnectorSyncJobIndexService.claimConnectorSyncJob: 404 for a missing job, otherwise
        // overwrites worker_hostname, status, last_seen, started_at (and connector.sync_cursor)
        // with no check of the job's status and no version condition.
        if (method === "PUT" && parts[3] === "_claim") {
          const now = new Date().toISOString();
          await store.updateJob(jobId, {
            worker_hostname: body.worker_hostname as string,
            status: "in_progress",
            last_seen: now,
            started_at: now,
            ...(body.sync_cursor == null
              ? {}
              : { connector: { ...job.doc.connector, sync_cursor: body.sync_cursor } }),
          });
          send(res, 200, { result: "updated" });
          return;
        }
        if (method === "PUT" && parts[3] === "_stats") {
          await store.updateJob(jobId, body);
          send(res, 200, { result: "updated" });
          return;
        }
      } else {
        const id = parts[1] ?? "";
        const connector = await store.getConnector(id);
        if (connector === undefined)
          return error(res, 404, "resource_not_found_exception", `connector [${id}] not found`);
        if (method === "PUT" && parts[2] === "_check_in") {
          await store.updateConnector(id, { last_seen: new Date().toISOString() });
          send(res, 200, { result: "updated" });
          return;
        }
        const filtering = connector.doc.filtering?.[0];
        if (method === "PUT" && parts[2] === "_filtering" && filtering !== undefined) {
          if (parts[3] === "_validation") {
            const draft = {
              ...filtering.draft,
              validation: body.validation as typeof filtering.draft.validation,
            };
            await store.updateConnector(id, {
              filtering: [{ ...filtering, draft }, ...(connector.doc.filtering ?? []).slice(1)],
            });
            send(res, 200, { result: "updated" });
            return;
          }
          if (parts[3] === "_activate") {
            await store.updateConnector(id, {
              filtering: [
                { ...filtering, active: { ...filtering.draft } },
                ...(connector.doc.filtering ?? []).slice(1),
              ],
            });
            send(res, 200, { result: "updated" });
            return;
          }
        }
      }
      return error(
        res,
        400,
        "emulator_unsupported",
        `the emulator does not implement ${method} ${url.pathname}`,
      );
    }
    if (parts[0] === "_security" && parts[1] === "api_key" && (method === "POST" || method === "PUT")) {
      apiKeyRequests.push(body);
      const id = randomBytes(10).toString("base64url");
      const apiKey = randomBytes(16).toString("base64url");
      const encoded = Buffer.from(`${id}:${apiKey}`).toString("base64");
      issuedKeys.add(encoded);
      send(res, 200, { id, name: body.name, api_key: apiKey, encoded });
      return;
    }
    const authorization = req.headers.authorization;
    forwarded.push({ method, path: url.pathname, authorization });
    if (authorization?.startsWith("ApiKey ") === true && !issuedKeys.has(authorization.slice(7))) {
      return error(res, 401, "security_exception", "unable to authenticate with provided credentials");
    }
    // Everything else: the real cluster.
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
    res.writeHead(response.status, {
      "content-type": response.headers.get("content-type") ?? "application/json",
      "x-elastic-product": "Elasticsearch",
    });
    res.end(Buffer.from(await response.arrayBuffer()));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      error(res, 500, "emulator_error", String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
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

export { JOBS_INDEX };
