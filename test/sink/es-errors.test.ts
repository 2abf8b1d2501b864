import { Client } from "@elastic/elasticsearch";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { describeEsError } from "../../src/sink/es-client.js";

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

describe("errors from the search server's client", () => {
  it("a refused connection is retryable and not reported as an HTTP status", async () => {
    const client = new Client({ node: `http://127.0.0.1:${await closedPort()}`, maxRetries: 0 });
    const error = await client.search({ index: "x" }).catch((e: unknown) => e);
    await client.close();
    const described = describeEsError(error, "bulk request failed");
    expect(described.retryable).toBe(true);
    expect(described.status).toBeUndefined();
    expect(described.message).toMatch(/^bulk request failed: .*ECONNREFUSED/);
    expect(described.message).not.toContain("HTTP 0");
  });
});
