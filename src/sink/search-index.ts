import type { Client } from "@elastic/elasticsearch";
import { SinkError, throwIfAborted } from "../errors.js";
import { ensureIndex } from "./ensure-index.js";
import { engineOf } from "./engine.js";
import { describeEsError } from "./es-client.js";
import { rawSources } from "./raw-sources.js";

/** Mapping of the bookkeeping object pgsearch adds to documents (see sync/document.ts). */
export const META_FIELD = "_pgsearch";

export const META_MAPPING = {
  _pgsearch: {
    properties: {
      source: { type: "keyword" },
      // JSON text of the key: read from doc values (columnar, cheap), never from _source, by
      // the delete pass and follow.
      key: { type: "keyword", index: false },
      // Content hashes as written before 2026-12 (the unchanged-row check now compares the
      // stored _source itself): still mapped so older indices keep a consistent mapping.
      h: { type: "long", index: false },
      hash: { type: "keyword", index: false },
      // "schema.table:[key]" of each table an advanced-rule row came from (follow mode finds
      // the documents a change affects through it).
      parts: { type: "keyword", doc_values: false },
    },
  },
} as const;

/** The content index: creation, counts, scans and stored bodies; everything the sync needs from it. */
/** The row a stored document came from, as its `_pgsearch` field records it. */
export interface StoredOwner {
  source: string;
  /** JSON of the key parts. */
  key: string;
  parts?: string[] | undefined;
}

export class SearchIndex {
  constructor(
    private readonly client: Client,
    readonly name: string,
  ) {}

  /** Creates the index when missing (dynamic mapping by default, as the reference does). */
  async ensure(
    options: { properties?: Record<string, unknown>; signal?: AbortSignal } = {},
  ): Promise<"created" | "exists"> {
    const properties = { ...options.properties, ...META_MAPPING };
    try {
      const created = await ensureIndex(this.client, this.name, { mappings: { properties } }, options.signal);
      if (created) return "created";
      const missing = await this.unmapped(options.properties ?? {}, options.signal);
      await this.client.indices.putMapping(
        { index: this.name, properties: { ...missing, ...META_MAPPING } },
        { signal: options.signal },
      );
      return "exists";
    } catch (error) {
      throw describeEsError(error, `cannot prepare index ${this.name}`);
    }
  }

  /**
   * The wanted top-level properties the index does not map yet (an index Kibana or an earlier
   * sync created keeps its fields). Dotted names are left to dynamic mapping: they may meet an
   * object path already mapped.
   */
  private async unmapped(
    wanted: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    if (Object.keys(wanted).length === 0) return {};
    const response = await this.client.indices.getMapping({ index: this.name }, { signal });
    const existing = new Set<string>();
    for (const index of Object.values(response)) {
      for (const field of Object.keys(index.mappings.properties ?? {})) existing.add(field);
    }
    return Object.fromEntries(
      Object.entries(wanted).filter(([field]) => !existing.has(field) && !field.includes(".")),
    );
  }

  async count(query?: Record<string, unknown>, signal?: AbortSignal): Promise<number> {
    try {
      const result = await this.client.count(
        { index: this.name, ...(query === undefined ? {} : { query }) },
        { signal },
      );
      return result.count;
    } catch (error) {
      throw describeEsError(error, `cannot count documents of ${this.name}`);
    }
  }

  async refresh(signal?: AbortSignal): Promise<void> {
    await this.client.indices.refresh({ index: this.name }, { signal });
  }

  /**
   * The stored bodies of the given ids: each `_source` as the text Elasticsearch keeps (the bytes
   * pgsearch sent), after its leading `_timestamp` member (see sync/document.ts `body`). Missing
   * ids are absent from the map. `_mget` is real-time: a document written a moment ago counts.
   */
  async storedBodies(ids: string[], signal?: AbortSignal): Promise<Map<string, string>> {
    const bodies = new Map<string, string>();
    if (ids.length === 0) return bodies;
    try {
      const stream = (await this.client.mget(
        { index: this.name, ids },
        { asStream: true, signal },
      )) as unknown as AsyncIterable<Buffer>;
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      for (const [id, source] of rawSources(Buffer.concat(chunks).toString("utf8"))) {
        bodies.set(id, bodyOf(source));
      }
      return bodies;
    } catch (error) {
      throw describeEsError(error, `cannot read stored documents from ${this.name}`);
    }
  }

  /**
   * Which row each of these documents belongs to (`_pgsearch.source`, `.key`, `.parts`); ids
   * without a document, or without that field, are left out.
   */
  async storedOwners(ids: string[], signal?: AbortSignal): Promise<Map<string, StoredOwner>> {
    const owners = new Map<string, StoredOwner>();
    if (ids.length === 0) return owners;
    try {
      const response = await this.client.mget<{ [META_FIELD]?: Partial<StoredOwner> }>(
        { index: this.name, ids, _source_includes: [META_FIELD] },
        { signal },
      );
      for (const doc of response.docs) {
        const meta = "found" in doc && doc.found ? doc._source?.[META_FIELD] : undefined;
        if (typeof meta?.source === "string" && typeof meta.key === "string")
          owners.set(doc._id, { source: meta.source, key: meta.key, parts: meta.parts });
      }
      return owners;
    } catch (error) {
      throw describeEsError(error, `cannot read document owners from ${this.name}`);
    }
  }

  /**
   * Every document matching `query`, a page at a time, through a point in time and
   * `search_after` (no scroll contexts, memory bounded by one page). Works without the reindex
   * module, which the test distribution of Elasticsearch lacks.
   */
  async *scan(options: ScanOptions): AsyncGenerator<ScannedDoc[]> {
    if (engineOf(this.client) === "opensearch") {
      yield* this.scrollScan(options);
      return;
    }
    const { signal } = options;
    let pitId: string;
    try {
      pitId = (await this.client.openPointInTime({ index: this.name, keep_alive: "5m" }, { signal })).id;
    } catch (error) {
      throw describeEsError(error, `cannot open a point in time on ${this.name}`);
    }
    try {
      let searchAfter: (string | number)[] | undefined;
      for (;;) {
        throwIfAborted(signal);
        const result = await this.client.search(
          {
            pit: { id: pitId, keep_alive: "5m" },
            size: options.pageSize,
            query: options.query,
            _source: false,
            docvalue_fields: options.fields,
            sort: [{ _shard_doc: "asc" }],
            track_total_hits: false,
            ...(searchAfter === undefined ? {} : { search_after: searchAfter }),
          },
          { signal },
        );
        if (result.pit_id !== undefined) pitId = result.pit_id;
        const hits = result.hits.hits;
        if (hits.length === 0) return;
        yield hits.map(scannedDoc);
        const last = hits[hits.length - 1];
        searchAfter = last?.sort as (string | number)[] | undefined;
        if (hits.length < options.pageSize || searchAfter === undefined) return;
      }
    } catch (error) {
      if (error instanceof SinkError) throw error;
      throw describeEsError(error, `cannot scan ${this.name}`);
    } finally {
      await this.client.closePointInTime({ id: pitId }).catch(() => undefined);
    }
  }

  /**
   * OpenSearch's scan: a scroll in index order (its point in time has another API, and
   * `_shard_doc` is Elasticsearch's). Reads until a page comes back empty.
   */
  private async *scrollScan(options: ScanOptions): AsyncGenerator<ScannedDoc[]> {
    const { signal } = options;
    let scrollId: string | undefined;
    try {
      let result = await this.client.search(
        {
          index: this.name,
          scroll: SCROLL_KEEP_ALIVE,
          size: options.pageSize,
          query: options.query,
          _source: false,
          docvalue_fields: options.fields,
          sort: ["_doc"],
        },
        { signal },
      );
      for (;;) {
        scrollId = result._scroll_id ?? scrollId;
        const hits = result.hits.hits;
        if (hits.length === 0 || scrollId === undefined) return;
        yield hits.map(scannedDoc);
        throwIfAborted(signal);
        result = await this.client.scroll({ scroll_id: scrollId, scroll: SCROLL_KEEP_ALIVE }, { signal });
      }
    } catch (error) {
      if (error instanceof SinkError) throw error;
      throw describeEsError(error, `cannot scan ${this.name}`);
    } finally {
      if (scrollId !== undefined)
        await this.client.clearScroll({ scroll_id: scrollId }).catch(() => undefined);
    }
  }
}

const SCROLL_KEEP_ALIVE = "5m";

interface ScanOptions {
  query: Record<string, unknown>;
  /** Keyword fields read from doc values (never _source). */
  fields: string[];
  pageSize: number;
  signal?: AbortSignal | undefined;
}

interface ScannedDoc {
  id: string;
  fields: Record<string, unknown[]>;
}

function scannedDoc(hit: {
  _id?: string | undefined;
  fields?: Record<string, unknown> | undefined;
}): ScannedDoc {
  return { id: hit._id ?? "", fields: (hit.fields ?? {}) as Record<string, unknown[]> };
}

/**
 * A document's body: its source after the leading `"_timestamp":...,` member, which changes on
 * every sync without commit timestamps. Documents pgsearch did not write have no such prefix
 * and are compared whole (they differ, and are written once).
 */
export function bodyOf(source: string): string {
  if (!source.startsWith('{"_timestamp":"')) return source;
  const end = source.indexOf('",', 15);
  return end < 0 ? source : source.slice(end + 2);
}
