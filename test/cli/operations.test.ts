import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliAsync, writeStackConfig } from "../helpers/cli.js";

describe("operations: the metrics server", () => {
  let busy: Server;
  let port = 0;
  let config = "";
  beforeAll(async () => {
    config = writeStackConfig({ index: "unused", schema: "public" }).replace(/config\.yml$/, "service.yml");
    writeFileSync(
      config,
      `elasticsearch:\n  host: ${process.env.ES_URL ?? ""}\nconnectors:\n  - connector_id: busy-port-test\n`,
    );
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => {
    busy.close();
  });

  it("serve on a busy --metrics-port says so in one line and exits 1 (issue 10.13)", async () => {
    const result = await runCliAsync("serve", "-c", config, "--metrics-port", String(port));
    expect(result.status).toBe(1);
    // The ECS JSON log lines aside, one line, no stack trace.
    const lines = result.stderr
      .trim()
      .split("\n")
      .filter((line) => !line.startsWith("{"));
    expect(lines).toEqual([
      `error: metrics port ${port} on 127.0.0.1 is already in use: stop the other process or choose another --metrics-port`,
    ]);
  });

  it("a --metrics-port that is not a port is a usage error (exit 2)", async () => {
    const result = await runCliAsync("serve", "-c", config, "--metrics-port", "http");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--metrics-port: must be a port number (1-65535), got "http"');
  });
});
