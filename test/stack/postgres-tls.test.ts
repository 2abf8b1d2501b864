import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { ConfigErrors } from "../../src/errors.js";
import { connectionFactory } from "../../src/source/connection.js";
import { sourceConfig, stack } from "../helpers/stack.js";

const tls = (file: string): string => readFileSync(join(stack.tlsDir(), file), "utf8");

async function whoAmI(overrides: Record<string, unknown>): Promise<{ ssl: boolean; user: string }> {
  const factory = connectionFactory(sourceConfig(overrides));
  const client = await factory.connect();
  try {
    const result = await client.query<{ ssl: string; user: string }>(
      "SELECT (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())::text AS ssl, current_user AS user",
    );
    const row = result.rows[0];
    return { ssl: row?.ssl === "true", user: row?.user ?? "" };
  } finally {
    await client.end();
  }
}

describe("PostgreSQL connections (real server, throwaway CA)", () => {
  it("connects without TLS when ssl_enabled is false", async () => {
    expect(await whoAmI({ ssl_enabled: false })).toEqual({ ssl: false, user: stack.pgUser() });
  });

  it("verifies the server against the configured CA (verify-full, host localhost)", async () => {
    expect(await whoAmI({ host: "localhost", ssl_enabled: true, ssl_ca: tls("ca.crt") })).toMatchObject({
      ssl: true,
    });
  });

  it("accepts the CA pasted on one line, as Kibana's text box does", async () => {
    const oneLine = tls("ca.crt").replace(/\n/g, " ");
    expect(await whoAmI({ host: "localhost", ssl_enabled: true, ssl_ca: oneLine })).toMatchObject({
      ssl: true,
    });
  });

  it("refuses a server certificate signed by another CA, and says what to check", async () => {
    await expect(
      whoAmI({ host: "localhost", ssl_enabled: true, ssl_ca: tls("other-ca.crt") }),
    ).rejects.toThrow(/certificate.*check ssl_ca/i);
  });

  it("verify-full refuses a host name the certificate does not cover; verify-ca accepts it", async () => {
    const options = { host: "127.0.0.2", ssl_enabled: true, ssl_ca: tls("ca.crt") };
    await expect(whoAmI({ ...options, ssl_mode: "verify-full" })).rejects.toThrow(
      /127\.0\.0\.2|altname|hostname/i,
    );
    expect(await whoAmI({ ...options, ssl_mode: "verify-ca" })).toMatchObject({ ssl: true });
  });

  it("mutual TLS: the client certificate authenticates pgsearch_mtls; without it the login fails", async () => {
    const options = {
      host: "127.0.0.1",
      username: "pgsearch_mtls",
      password: "",
      ssl_enabled: true,
      ssl_ca: tls("ca.crt"),
    };
    expect(await whoAmI({ ...options, ssl_cert: tls("client.crt"), ssl_key: tls("client.key") })).toEqual({
      ssl: true,
      user: "pgsearch_mtls",
    });
    expect(() => sourceConfig(options)).toThrow(ConfigErrors);
    await expect(whoAmI({ ...options, password: "wrong-password" })).rejects.toThrow(
      /pgsearch_mtls|authentication|certificate/i,
    );
  });

  it("a wrong password is reported without the password", async () => {
    const error = await whoAmI({ password: "Sup3r-Secret-Value" }).then(
      () => new Error("connected with a wrong password"),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/check username and password/);
    expect(`${error.message}${JSON.stringify(error)}`).not.toContain("Sup3r-Secret-Value");
  });

  it("the cluster runs with track_commit_timestamp and logical replication enabled", async () => {
    const client = new pg.Client({
      host: stack.pgHost(),
      port: stack.pgPort(),
      user: stack.pgUser(),
      password: stack.pgPassword(),
      database: stack.pgDatabase(),
    });
    await client.connect();
    try {
      const result = await client.query<{ ts: string; wal: string }>(
        "SELECT current_setting('track_commit_timestamp') AS ts, current_setting('wal_level') AS wal",
      );
      expect(result.rows[0]).toEqual({ ts: "on", wal: "logical" });
    } finally {
      await client.end();
    }
  });
});
