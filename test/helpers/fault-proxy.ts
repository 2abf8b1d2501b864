/**
 * A FAKE placed in front of the REAL Elasticsearch: it forwards every request, but rejects a share
 * of `_bulk` requests with HTTP 429 and a share of bulk items with item-level 429s (forwarding the
 * rest). A real cluster under load does this; one cannot be made to do it on demand here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  url: string;
  stats: { requestsRejected: number; itemsRejected: number; bulkRequests: number };
  close(): Promise<void>;
}

/** Small deterministic PRNG so a failing run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startFaultProxy(
  target: string,
  options: { requestRejectRate: number; itemRejectRate: number; seed?: number },
): Promise<FaultProxy> {
  const random = mulberry32(options.seed ?? 42);
  const stats = { requestsRejected: 0, itemsRejected: 0, bulkRequests: 0 };

  const forward = async (req: IncomingMessage, payload: Buffer | undefined): Promise<Response> => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "content-length", "connection"].includes(name))
        headers[name] = value;
    }
    return fetch(new URL(req.url ?? "/", target), {
      method: req.method ?? "GET",
      headers,
      ...(payload === undefined || payload.length === 0 ? {} : { body: payload }),
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const payload = await body(req);
    const url = new URL(req.url ?? "/", target);
    if (req.method !== "POST" || !url.pathname.endsWith("/_bulk")) {
      const response = await forward(req, payload);
      res.writeHead(response.status, {
        "content-type": response.headers.get("content-type") ?? "application/json",
        "x-elastic-product": "Elasticsearch",
      });
      res.end(Buffer.from(await response.arrayBuffer()));
      return;
    }
    stats.bulkRequests++;
    if (random() < options.requestRejectRate) {
      stats.requestsRejected++;
      res.writeHead(429, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
      res.end(
        JSON.stringify({
          error: { type: "es_rejected_execution_exception", reason: "injected" },
          status: 429,
        }),
      );
      return;
    }
    // Split into operations (action line + source line for index/create/update).
    const lines = payload
      .toString("utf8")
      .split("\n")
      .filter((l) => l !== "");
    const ops: string[][] = [];
    for (let i = 0; i < lines.length; i++) {
      const action = lines[i] as string;
      const hasSource = !action.startsWith('{"delete"');
      ops.push(hasSource ? [action, lines[++i] as string] : [action]);
    }
    const rejected = ops.map(() => random() < options.itemRejectRate);
    const kept = ops.filter((_, i) => !rejected[i]);
    let forwarded: Record<string, unknown>[] = [];
    if (kept.length > 0) {
      url.searchParams.delete("filter_path");
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": req.headers["content-type"] ?? "application/x-ndjson",
          accept: req.headers.accept ?? "application/json",
        },
        body: `${kept.flat().join("\n")}\n`,
      });
      forwarded = ((await response.json()) as { items: Record<string, unknown>[] }).items;
    }
    let k = 0;
    const items = ops.map((op, i) => {
      if (!rejected[i]) return forwarded[k++];
      stats.itemsRejected++;
      const action = Object.keys(JSON.parse(op[0] as string) as object)[0] as string;
      return {
        [action]: { status: 429, error: { type: "es_rejected_execution_exception", reason: "injected" } },
      };
    });
    res.writeHead(200, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
    res.end(JSON.stringify({ errors: rejected.some(Boolean), items }));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(502);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
