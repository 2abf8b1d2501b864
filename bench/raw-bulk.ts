/** The ceiling: pre-built NDJSON sent with plain `fetch` to `_bulk`, nothing else. */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

export interface BulkBounds {
  bulkMaxDocs: number;
  bulkMaxBytes: number;
  bulkConcurrency: number;
}

/** Same batch bounds and concurrency as the sync, through plain fetch: nothing but _bulk. */
export async function rawBulk(
  esUrl: string,
  file: string,
  target: string,
  bounds: BulkBounds,
  maxDocs = Infinity,
): Promise<{ docs: number; bytes: number }> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const inFlight = new Set<Promise<void>>();
  let body: string[] = [];
  let bodyBytes = 0;
  let docs = 0;
  let bytes = 0;
  let action: string | undefined;
  const send = async (payload: string): Promise<void> => {
    const response = await fetch(`${esUrl}/${target}/_bulk?filter_path=errors`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: payload,
    });
    const result = (await response.json()) as { errors?: boolean };
    if (!response.ok || result.errors === true)
      throw new Error(`ceiling _bulk failed: HTTP ${response.status}`);
  };
  const flush = async (): Promise<void> => {
    const payload = body.join("");
    body = [];
    bodyBytes = 0;
    while (inFlight.size >= bounds.bulkConcurrency) await Promise.race(inFlight);
    const task = send(payload).finally(() => inFlight.delete(task));
    inFlight.add(task);
  };
  for await (const line of lines) {
    if (docs >= maxDocs) break;
    if (action === undefined) {
      action = line;
      continue;
    }
    const pair = `${action}\n${line}\n`;
    action = undefined;
    const pairBytes = Buffer.byteLength(pair);
    if (body.length > 0 && bodyBytes + pairBytes > bounds.bulkMaxBytes) await flush();
    body.push(pair);
    bodyBytes += pairBytes;
    bytes += pairBytes;
    docs++;
    if (body.length >= bounds.bulkMaxDocs) await flush();
  }
  if (body.length > 0) await flush();
  await Promise.all(inFlight);
  return { docs, bytes };
}
