import type { Client as EsClient } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BulkWriter, type BulkItem, type ItemFailure } from "../../src/sink/bulk-writer.js";
import { esClient, uniqueName } from "../helpers/stack.js";

let es: EsClient;
const index = uniqueName("bulk-writer");

beforeAll(async () => {
  es = await esClient();
  await es.indices.create({ index, mappings: { properties: { n: { type: "long" } } } });
});

afterAll(async () => {
  await es.indices.delete({ index }).catch(() => undefined);
  await es.close();
});

/** A document of about `size` bytes whose text mixes 1-, 2-, 3- and 4-byte UTF-8 characters. */
function source(i: number, size: number): string {
  const text = `é€😀 line "${i}" \\ `.repeat(Math.ceil(size / 24)).slice(0, size);
  return JSON.stringify({ n: i, text });
}

describe("bulk writer", () => {
  it("sends every document byte for byte across byte-limited, reused request bodies", async () => {
    const outcomes: string[] = [];
    const failures: { item: BulkItem; failure: ItemFailure }[] = [];
    const writer = new BulkWriter({
      client: es,
      index,
      maxBytes: 4000,
      maxDocs: 50,
      concurrency: 2,
      onItem: (item, outcome, failure) => {
        outcomes.push(outcome);
        if (failure !== undefined) failures.push({ item, failure });
      },
    });
    const sent = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      // Sizes from a few bytes to more than a whole body (a body of one document).
      const body = source(i, i % 50 === 7 ? 9000 : (i * 37) % 700);
      sent.set(`doc-${i}`, body);
      await writer.add({ action: "index", id: `doc-${i}`, source: body });
    }
    // Refused by the mapping (n is a long): reported with the document it carried.
    const refused = JSON.stringify({ n: "not a number ✓" });
    await writer.add({ action: "index", id: "refused", source: refused });
    await writer.add({ action: "delete", id: "doc-3" });
    sent.delete("doc-3");
    await writer.add({ action: "delete", id: "never-written" });
    await writer.flush();

    expect(writer.stats.created).toBe(300);
    expect(writer.stats.deleted).toBe(1);
    expect(writer.stats.notFound).toBe(1);
    expect(writer.stats.failed).toBe(1);
    expect(writer.stats.queuedBytes).toBe(0);
    // The byte limit split the 303 operations into many requests, not ceil(303 / 50) = 7.
    expect(writer.stats.requests).toBeGreaterThan(20);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.item).toMatchObject({ action: "index", id: "refused", source: refused });
    expect(failures[0]?.failure.reason).toMatch(/mapper_parsing_exception|document_parsing_exception/);

    await es.indices.refresh({ index });
    const stored = await es.mget<Record<string, unknown>>({ index, ids: [...sent.keys()] });
    for (const doc of stored.docs) {
      // Parsed and serialised again, JSON.stringify's output is its own text: any byte lost or
      // overwritten in a reused body would show.
      const found = "found" in doc && doc.found ? JSON.stringify(doc._source) : undefined;
      expect(found, doc._id).toBe(sent.get(doc._id));
    }
    expect((await es.count({ index })).count).toBe(299);
  });
});
