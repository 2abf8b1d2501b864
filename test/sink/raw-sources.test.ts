import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bodyOf } from "../../src/sink/search-index.js";
import { rawSources } from "../../src/sink/raw-sources.js";

/** An `_mget` response as Elasticsearch writes it, sources embedded as the text they were sent. */
function mgetBody(docs: { id: string; source?: string }[], pretty: boolean): string {
  const space = pretty ? "\n  " : "";
  const items = docs.map(({ id, source }) =>
    source === undefined
      ? `{"_index":"i","_id":${JSON.stringify(id)},"found":false}`
      : `{"_index":"i",${space}"_id":${JSON.stringify(id)},"_version":1,"found":true,${space}"_source":${source}}`,
  );
  return `{"docs":[${items.join(`,${space}`)}]}`;
}

describe("raw sources of an _mget response", () => {
  it("returns every found document's source text exactly, whatever it contains", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1 }), value: fc.jsonValue() }), {
          selector: (d) => d.id,
          maxLength: 8,
        }),
        fc.boolean(),
        (docs, pretty) => {
          const sources = docs.map((d) => ({
            id: d.id,
            source: JSON.stringify({ v: d.value, s: '"}]{[\\' }),
          }));
          const found = rawSources(mgetBody([...sources, { id: "missing-one" }], pretty));
          expect(found).toEqual(new Map(sources.map((d) => [d.id, d.source])));
        },
      ),
    );
  });

  it("keeps numbers digit for digit (JSON.parse would round them)", () => {
    const source = '{"_timestamp":"2024-01-01T00:00:00+00:00","n":123456789012345678901234567890,"f":1.10}';
    const found = rawSources(mgetBody([{ id: "a", source }], false));
    expect(found.get("a")).toBe(source);
    expect(bodyOf(source)).toBe('"n":123456789012345678901234567890,"f":1.10}');
  });
});
