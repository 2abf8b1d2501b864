/**
 * One test body per search engine, as kysely runs one body per dialect: Elasticsearch always,
 * OpenSearch when the stack runs it (`scripts/stack.sh up opensearch` puts OS_URL in `env`).
 * TEST_ENGINES=elasticsearch or =opensearch narrows the set.
 */
import type { Client as EsClient } from "@elastic/elasticsearch";
import { describe } from "vitest";
import type { Engine } from "../../src/sink/engine.js";
import { connectElasticsearch } from "../../src/sink/es-client.js";
import { stack } from "./stack.js";

export interface TestEngine {
  engine: Engine;
  url: string;
  /** A client connected the way pgsearch connects (engine detected from the server). */
  client(): Promise<EsClient>;
}

export function testEngines(): TestEngine[] {
  const wanted = (process.env.TEST_ENGINES ?? "elasticsearch,opensearch").split(",");
  const urls: [Engine, string | undefined][] = [
    ["elasticsearch", stack.esUrl()],
    ["opensearch", process.env.OS_URL],
  ];
  return urls
    .filter((entry): entry is [Engine, string] => entry[1] !== undefined && entry[1] !== "")
    .filter(([engine]) => wanted.includes(engine))
    .map(([engine, url]) => ({
      engine,
      url,
      client: async () => (await connectElasticsearch({ host: url, requestTimeoutMs: 60_000 })).client,
    }));
}

/** `describe(title [engine], body)` for every engine under test. */
export function describeEachEngine(title: string, body: (engine: TestEngine) => void): void {
  for (const engine of testEngines())
    describe(`${title} [${engine.engine}]`, () => {
      body(engine);
    });
}
