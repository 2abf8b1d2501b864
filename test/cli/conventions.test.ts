import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT_BY_CODE, reportError } from "../../src/cli/exit-codes.js";
import { redactCredentials, registerSecret } from "../../src/observability/redact.js";
import { failureLines, useColour } from "../../src/cli/output.js";
import { ERROR_CODES, SourceError } from "../../src/errors.js";
import { createLogger, terminal } from "../../src/observability/logger.js";
import { readFileSync } from "node:fs";
import { NODE_FLAGS } from "../../src/cli/heap.js";
import { runCli } from "../helpers/cli.js";

describe("CLI conventions", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("a usage error (unknown option, unknown command) exits 2, --help and --version 0", () => {
    expect(runCli("sync", "--no-such-option").status).toBe(2);
    expect(runCli("no-such-command").status).toBe(2);
    expect(runCli("--version").status).toBe(0);
    expect(runCli("job", "--help").status).toBe(0);
  });

  it("every error code has an exit code; invalid configuration is 2", () => {
    expect(Object.keys(EXIT_BY_CODE).sort()).toEqual([...ERROR_CODES].sort());
    expect(EXIT_BY_CODE.config_invalid).toBe(2);
    expect(EXIT_BY_CODE.source_unreachable).toBe(1);
  });

  it("a connection URL pasted into host is printed without its password (issue 10.14)", () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const code = reportError(
      new SourceError('cannot connect to "postgres://app:S3cret-PW@db.internal:5432/shop": ENOTFOUND', {
        code: "source_unreachable",
      }),
    );
    expect(code).toBe(1);
    expect(written.join("")).toContain("postgres://app:***@db.internal:5432/shop");
    expect(written.join("")).not.toContain("S3cret-PW");
    expect(redactCredentials("host=db password='a b' user=x")).toBe("host=db password=*** user=x");
  });

  it("the installed commands and the image start Node with NODE_FLAGS (young generation bounded on Node 24)", () => {
    for (const bin of ["bin/pgsearch.js", "bin/elastic-ingest"]) {
      expect(readFileSync(bin, "utf8").split("\n")[0]).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`);
    }
    const entrypoint = readFileSync("Dockerfile", "utf8").match(/^ENTRYPOINT (.*)$/m)?.[1] ?? "";
    expect(JSON.parse(entrypoint)).toEqual(["/usr/bin/tini", "--", "node", ...NODE_FLAGS, "bin/pgsearch.js"]);
  });

  it("a secret handed to a driver is masked in any later text, JSON-escaped too; so are Authorization values", () => {
    registerSecret('pw-"quoted"-9917');
    expect(redactCredentials('role "x" has password pw-"quoted"-9917')).toBe('role "x" has password ***');
    expect(redactCredentials(JSON.stringify({ msg: 'got pw-"quoted"-9917' }))).toBe('{"msg":"got ***"}');
    expect(redactCredentials('{"authorization":"ApiKey QXBpS2V5U2VjcmV0"}')).toBe(
      '{"authorization":"ApiKey ***"}',
    );
    // Too short to mask without garbling every line.
    registerSecret("ab");
    expect(redactCredentials("tab")).toBe("tab");
  });

  it("4,000 refused documents print 10 lines and one count by reason (issue 10.15)", () => {
    const failures = Array.from({ length: 100 }, (_, i) => ({
      id: String(i),
      reason: "cluster_block_exception: index [x] blocked by: [FORBIDDEN/8/index write (api)];",
    }));
    const lines = failureLines(failures, 4000);
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe(
      "... and 3990 more failed documents: 90 cluster_block_exception, 3900 not kept (only the first 100 are)",
    );
  });

  it("no colour with NO_COLOR or when stdout is not a terminal", () => {
    const tty = { isTTY: true };
    vi.stubEnv("NO_COLOR", "");
    expect(useColour(tty)).toBe(true);
    expect(useColour({ isTTY: false })).toBe(false);
    vi.stubEnv("NO_COLOR", "1");
    expect(useColour(tty)).toBe(false);
  });

  it("logs: ECS JSON with service.name and pgsearch.* fields; on a TTY readable lines above the progress display", async () => {
    const lines: string[] = [];
    const ecs = await createLogger({ ecs: true, destination: { write: (l: string) => void lines.push(l) } });
    ecs.warn({ table: "public.orders", password: "hunter2" }, "slow table");
    const record = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    expect(record).toMatchObject({
      "service.name": "pgsearch",
      "log.level": "warn",
      message: "slow table",
      pgsearch: { table: "public.orders", password: "[redacted]" },
    });

    const order: string[] = [];
    terminal.live = { clear: () => order.push("clear"), redraw: () => order.push("redraw") };
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      order.push(String(chunk));
      return true;
    });
    const human = await createLogger({ human: true });
    human.warn({ table: "public.orders" }, "slow table");
    terminal.live = undefined;
    expect(order).toHaveLength(3);
    expect(order[0]).toBe("clear");
    expect(order[1]).toMatch(/^\d\d:\d\d:\d\d WARN slow table table=public\.orders\n$/);
    expect(order[2]).toBe("redraw");
  });
});
