import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DeleteGuardError } from "../errors.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import type { BulkWriter } from "../sink/bulk-writer.js";
import { META_FIELD, type SearchIndex } from "../sink/search-index.js";
import type { PgClient } from "../source/connection.js";
import type { SourcePlan, SourceStream } from "../source/plan.js";
import type { PostgresSource } from "../source/postgres-source.js";
import type { SyncSnapshot } from "../source/snapshot.js";
import type { BatchTicket } from "./checkpoints.js";
import { parseKey, RowDecider } from "./row-decision.js";

export interface DeletePassInput {
  source: PostgresSource;
  plan: SourcePlan;
  snapshot: SyncSnapshot;
  writer: BulkWriter<BatchTicket>;
  index: SearchIndex;
  rules: BasicRuleEngine;
  maxDeletePercent: number;
  allowMassDelete: boolean;
  signal: AbortSignal | undefined;
  onDeleted: (n: number) => void;
}

type IndexedDoc = { id: string; key: (string | null)[] };

/**
 * Finds documents whose row is gone (or is now excluded by the rules) by asking PostgreSQL, in
 * the sync's snapshot, which keys of each page of the index still exist. Ids to delete go to a
 * temporary file, so memory stays flat at any index size; nothing is deleted until the whole
 * index was checked and the guard agreed.
 */
export async function deletePass(input: DeletePassInput): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "pgsearch-delete-"));
  const file = join(dir, "ids.ndjson");
  try {
    const out = createWriteStream(file);
    let counts: { stale: number; total: number };
    try {
      counts = await findStale(input, out);
    } finally {
      await new Promise<void>((resolve) => out.end(resolve));
    }
    const { stale, total } = counts;
    if (
      stale > 100 &&
      (stale / Math.max(total, 1)) * 100 > input.maxDeletePercent &&
      !input.allowMassDelete
    ) {
      throw new DeleteGuardError(stale, total, input.maxDeletePercent);
    }
    let deleted = 0;
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === "") continue;
      await input.writer.add({ action: "delete", id: JSON.parse(line) as string });
      deleted++;
      if (deleted % 5000 === 0) input.onDeleted(deleted);
    }
    await input.writer.flush();
    return input.writer.stats.deleted;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function findStale(
  input: DeletePassInput,
  out: WriteStream,
): Promise<{ stale: number; total: number }> {
  const { plan, signal } = input;
  const byId = new Map(plan.streams.map((s) => [s.id, s]));
  // A table skipped this time (lost its primary key, lost a privilege) keeps its documents.
  const skipped = new Set(plan.skipped.map((s) => s.table));
  const deciders = new Map(
    plan.streams.map((s) => [s.id, new RowDecider(s, input.source.config, input.rules, '""')]),
  );
  let stale = 0;
  let total = 0;
  const staleId = (id: string): void => {
    out.write(`${JSON.stringify(id)}\n`);
    stale++;
  };
  const reader = await input.snapshot.reader(signal);
  const pages = input.index.scan({
    query: { match_all: {} },
    fields: [`${META_FIELD}.source`, `${META_FIELD}.key`],
    pageSize: 5000,
    signal,
  });
  try {
    // The next page is fetched from Elasticsearch while PostgreSQL checks this one's keys.
    let next = pages.next();
    for (;;) {
      const current = await next;
      if (current.done === true) break;
      next = pages.next();
      next.catch(() => undefined);
      const page = current.value;
      total += page.length;
      const groups = new Map<string, IndexedDoc[]>();
      for (const hit of page) {
        const source = hit.fields[`${META_FIELD}.source`]?.[0] as string | undefined;
        const key = parseKey(hit.fields[`${META_FIELD}.key`]?.[0]);
        if (source !== undefined && skipped.has(source)) continue;
        const stream = source === undefined ? undefined : byId.get(source);
        if (stream === undefined || key === undefined || key.length !== stream.keyIndexes.length) {
          // Not written by a current stream (a table no longer configured, another tool): stale.
          staleId(hit.id);
          continue;
        }
        const group = groups.get(stream.id) ?? [];
        group.push({ id: hit.id, key });
        groups.set(stream.id, group);
      }
      for (const [streamId, docs] of groups) {
        const stream = byId.get(streamId) as SourceStream;
        const decider = deciders.get(streamId) as RowDecider;
        for (const id of await staleOfGroup(input, reader, stream, decider, docs)) staleId(id);
      }
    }
  } finally {
    await pages.return(undefined).catch(() => undefined);
    await input.snapshot.release(reader);
  }
  return { stale, total };
}

/** The ids of `docs` whose row is gone, has another id now, or is excluded by the rules. */
async function staleOfGroup(
  input: DeletePassInput,
  reader: PgClient,
  stream: SourceStream,
  decider: RowDecider,
  docs: IndexedDoc[],
): Promise<string[]> {
  // Without residual rules, whether a key exists is all that matters: no document is rendered.
  const contentCanExclude = decider.contentCanExclude;
  const existing = await input.source.existing(
    reader,
    stream,
    input.plan.server,
    docs.map((d) => d.key),
    input.signal,
    { keysOnly: !contentCanExclude },
  );
  return docs
    .filter((doc) => {
      const row = existing.get(JSON.stringify(doc.key));
      if (row === undefined || decider.id(row.key) !== doc.id) return true;
      // One rule with the sync and the follower: an oversize row keeps its document.
      return contentCanExclude && decider.decide(row).action === "exclude";
    })
    .map((doc) => doc.id);
}
