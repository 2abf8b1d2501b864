import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client as EsClient } from "@elastic/elasticsearch";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { esClient, stack, uniqueName } from "../helpers/stack.js";

let es: EsClient;
const index = uniqueName("stack-bulk");

beforeAll(async () => {
  es = await esClient();
});

afterAll(async () => {
  await es.indices.delete({ index }).catch(() => undefined);
  await es.close();
});

describe("Elasticsearch (real server from Maven Central)", () => {
  it("reports its version, 8.x or 9.x as ES_VERSION asks", async () => {
    const connected = await connectElasticsearch({ host: stack.esUrl(), requestTimeoutMs: 30_000 });
    await connected.client.close();
    expect([8, 9]).toContain(connected.major);
    if (process.env.ES_VERSION !== undefined) expect(connected.version).toBe(process.env.ES_VERSION);
  });

  it("creates an index, takes 10,000 documents through _bulk and counts them", async () => {
    await es.indices.create({ index });
    const body = Array.from(
      { length: 10_000 },
      (_, i) => `{"index":{"_id":"${i}"}}\n{"n":${i},"text":"doc ${i}"}\n`,
    ).join("");
    const response = await es.transport.request<{ errors: boolean; items: unknown[] }>({
      method: "POST",
      path: `/${index}/_bulk`,
      bulkBody: body,
    });
    expect(response.errors).toBe(false);
    expect(response.items).toHaveLength(10_000);
    await es.indices.refresh({ index });
    expect((await es.count({ index })).count).toBe(10_000);
    const hits = await es.search({ index, query: { match: { text: "9999" } } });
    expect(hits.hits.hits[0]?._id).toBe("9999");
  });

  it("has point-in-time + search_after (the delete pass) but no _delete_by_query (no reindex module)", async () => {
    const pit = await es.openPointInTime({ index, keep_alive: "1m" });
    const page = await es.search({ pit: { id: pit.id, keep_alive: "1m" }, size: 10, sort: ["_shard_doc"] });
    expect(page.hits.hits).toHaveLength(10);
    await es.closePointInTime({ id: pit.id });
    const response = await fetch(`${stack.esUrl()}/${index}/_delete_by_query`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"query":{"match_all":{}}}',
    });
    expect(response.status).toBe(400);
  });
});
