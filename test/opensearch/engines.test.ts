/**
 * The CLI as a user runs it against each search engine (test/helpers/engines.ts): validate, sync
 * with typed mappings, --incremental, the delete pass and the checkpoint document. The sync,
 * incremental, follow and fault suites run against OpenSearch too (scripts/test.sh points ES_URL
 * at it for its opensearch stage).
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAppConfig } from "../../src/config/index.js";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { runCli, runCliAsync, writeStackConfig } from "../helpers/cli.js";
import { describeEachEngine, testEngines } from "../helpers/engines.js";
import { dropSchema } from "../helpers/fixtures.js";
import { expectItemsIndexed } from "../helpers/sync.js";
import { adminClient, uniqueName } from "../helpers/stack.js";

describeEachEngine("pgsearch against", (target) => {
  let admin: pg.Client;
  let es: EsClient;
  const schema = uniqueName("engines");
  const index = uniqueName("search-engines");
  let config: string;

  beforeAll(async () => {
    admin = await adminClient();
    es = await target.client();
    await admin.query(`
      CREATE SCHEMA "${schema}";
      CREATE TABLE "${schema}".item (id int PRIMARY KEY, name text, qty int, price numeric,
        at timestamptz, span int4range, ok bool);
      INSERT INTO "${schema}".item SELECT g, 'item ' || g, g % 10, g * 1.5,
        '2026-01-01'::timestamptz + g * interval '1 hour', int4range(g, g + 5), g % 2 = 0
        FROM generate_series(1, 50) g;
    `);
    // The OpenSearch case uses the opensearch: block; the elasticsearch: block works for both.
    config = writeStackConfig({
      index,
      schema,
      host: target.url,
      block: target.engine,
    });
  });

  afterAll(async () => {
    await dropSchema(admin, schema);
    await es.indices.delete({ index }).catch(() => undefined);
    await es.delete({ index: "pgsearch-state", id: index }).catch(() => undefined);
    await admin.end();
    await es.close();
  });

  it("validate names the engine and the version the server itself reports", async () => {
    const version = await versionReportedBy(target.url);
    const result = await runCliAsync("validate", "--config", config);
    expect(result.stderr).not.toMatch(/error/i);
    const name = target.engine === "opensearch" ? "OpenSearch " : "";
    expect(result.stdout).toContain(`elasticsearch: ok (${name}${version})`);
    expect(result.status).toBe(0);
  });

  it("sync: every row is a document, with the types the columns call for as the server maps them", async () => {
    const result = await runCliAsync("sync", "--config", config);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    await expectItemsIndexed(es, admin, schema, index);
    const mapping = await es.indices.getMapping({ index });
    const properties = Object.values(mapping)[0]?.mappings.properties ?? {};
    const typeOf = (column: string): unknown =>
      (properties[`${schema}_item_${column}`] as { type?: string } | undefined)?.type;
    expect([typeOf("qty"), typeOf("price"), typeOf("at"), typeOf("span"), typeOf("ok")]).toEqual([
      "integer",
      "double",
      "date",
      "integer_range",
      "boolean",
    ]);
  });

  it("--incremental sends the changes; a full sync's delete pass removes deleted rows; the checkpoint is saved", async () => {
    await admin.query(`UPDATE "${schema}".item SET qty = 99, name = 'changed' WHERE id IN (1, 2)`);
    await admin.query(`INSERT INTO "${schema}".item (id, name, qty) VALUES (51, 'new', 7)`);
    const incremental = await runCliAsync("sync", "--incremental", "--config", config);
    expect(incremental.stderr).not.toMatch(/error/i);
    expect(incremental.status).toBe(0);
    await expectItemsIndexed(es, admin, schema, index);

    await admin.query(`DELETE FROM "${schema}".item WHERE id IN (10, 11, 12)`);
    const full = await runCliAsync("sync", "--json", "--config", config);
    expect(full.status).toBe(0);
    expect((JSON.parse(full.stdout) as { deleted: number }).deleted).toBe(3);
    await expectItemsIndexed(es, admin, schema, index);

    const state = await es.get<{ index_name?: string }>({ index: "pgsearch-state", id: index });
    expect(state._source?.index_name).toBe(index);
  });
});

describe("OpenSearch where only Elasticsearch will do, and servers that are neither", () => {
  const opensearch = testEngines().find((e) => e.engine === "opensearch");

  it.skipIf(opensearch === undefined)("serve refuses OpenSearch with exit 2, saying why", () => {
    const path = join(mkdtempSync(join(tmpdir(), "pgsearch-serve-os-")), "config.yml");
    writeFileSync(
      path,
      ["elasticsearch:", `  host: ${opensearch?.url ?? ""}`, "connectors:", "  - connector_id: c1"].join(
        "\n",
      ),
    );
    const result = runCli("serve", "--config", path);
    expect(result.stderr).toMatch(
      /OpenSearch \d+\.\d+\.\d+; the connector service \(serve\) works with Elasticsearch only/,
    );
    expect(result.status).toBe(2);
  });

  it("an HTTP server that is neither engine is named as such, not as unreachable", async () => {
    const server: Server = createServer((_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(connectElasticsearch({ host, requestTimeoutMs: 5000 })).rejects.toThrow(
        `the server at ${host} answered, but it is neither Elasticsearch nor OpenSearch`,
      );
    } finally {
      server.close();
    }
  });

  it("an opensearch: block takes the elasticsearch: keys; both blocks at once are refused", () => {
    const base =
      "index_name: search-x\nconfiguration:\n  host: h\n  username: u\n  password: p\n  database: d\n  schema: s\n";
    const config = parseAppConfig(`opensearch:\n  host: http://os.example:9200\n  username: u\n${base}`);
    expect(config.elasticsearch).toMatchObject({ host: "http://os.example:9200", username: "u" });
    expect(() => parseAppConfig(`opensearch:\n  hots: http://x\n${base}`)).toThrow(
      /opensearch\.hots: unknown key/,
    );
    expect(() =>
      parseAppConfig(`opensearch:\n  host: http://a:9200\nelasticsearch:\n  host: http://b:9200\n${base}`),
    ).toThrow(/either an elasticsearch: or an opensearch: block/);
  });
});

/** The server's own version: GET /, or the node info where the root endpoint is absent (ES test zip). */
async function versionReportedBy(url: string): Promise<string | undefined> {
  const root = (await (await fetch(url)).json()) as { version?: { number?: string } };
  if (root.version?.number !== undefined) return root.version.number;
  const nodes = (await (await fetch(`${url}/_nodes/_local`)).json()) as {
    nodes: Record<string, { version: string }>;
  };
  return Object.values(nodes.nodes)[0]?.version;
}
