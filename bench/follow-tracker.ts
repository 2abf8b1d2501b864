/**
 * Per-change follow lag: every change a writer commits sets the row's `seq` to a fresh sequence
 * value and is recorded with its commit time; a poller searches the index (no forced refresh:
 * "searchable" is what a user sees) and records when each seq first appears. A change overwritten
 * by a later one of the same row before it appeared is counted as superseded, not as a sample.
 */
import type { Client } from "@elastic/elasticsearch";
import type pg from "pg";

export class ChangeTracker {
  readonly committedAt = new Map<number, number>();
  readonly seenAt = new Map<number, number>();
  readonly superseded = new Set<number>();
  private readonly rowSeq = new Map<number, number>();
  /** Row of each seq, to check unseen changes against the database. */
  readonly rowOf = new Map<number, number>();
  /** Committed, not yet seen nor superseded. */
  readonly pending = new Set<number>();
  maxSeen = 0;

  committed(rows: { id: number; seq: number }[], at: number): void {
    for (const { id, seq } of rows) {
      this.committedAt.set(seq, at);
      this.rowOf.set(seq, id);
      this.pending.add(seq);
      const previous = this.rowSeq.get(id);
      if (previous === undefined || previous < seq) {
        this.rowSeq.set(id, seq);
        if (previous !== undefined && this.pending.delete(previous)) this.superseded.add(previous);
      } else if (this.pending.delete(seq)) {
        this.superseded.add(seq);
      }
    }
  }

  seen(seqs: number[], at: number): void {
    for (const seq of seqs) {
      if (!this.pending.delete(seq)) continue;
      this.seenAt.set(seq, at);
      if (seq > this.maxSeen) this.maxSeen = seq;
    }
  }

  lagsMs(): number[] {
    return [...this.seenAt].map(([seq, at]) => at - (this.committedAt.get(seq) ?? at)).sort((a, b) => a - b);
  }
}

/** One poll: the seqs above the highest seen, and the pending ones below it (seen out of order). */
export async function pollOnce(
  client: Client,
  index: string,
  field: string,
  tracker: ChangeTracker,
): Promise<void> {
  const now = (): number => Date.now();
  let after = tracker.maxSeen;
  for (;;) {
    const result = await client.search({
      index,
      size: 10_000,
      _source: false,
      docvalue_fields: [field],
      query: { range: { [field]: { gt: after } } },
      sort: [{ [field]: "asc" }],
      track_total_hits: false,
    });
    const seqs = result.hits.hits.map((h) => Number((h.fields?.[field] as unknown[] | undefined)?.[0]));
    tracker.seen(seqs, now());
    if (seqs.length < 10_000) break;
    after = seqs.at(-1) ?? after;
  }
  const late = [...tracker.pending].filter((s) => s < tracker.maxSeen).slice(0, 10_000);
  if (late.length > 0) {
    const result = await client.search({
      index,
      size: late.length,
      _source: false,
      docvalue_fields: [field],
      query: { terms: { [field]: late } },
      track_total_hits: false,
    });
    tracker.seen(
      result.hits.hits.map((h) => Number((h.fields?.[field] as unknown[] | undefined)?.[0])),
      now(),
    );
  }
}

/** A writer: transactions of `perCommit` changes (70% updates of random rows, 30% inserts). */
export async function writeChanges(options: {
  client: pg.Client;
  table: string;
  rows: number;
  perSecond: number;
  perCommit: number;
  until: number;
  nextInsert: () => number;
  tracker: ChangeTracker;
}): Promise<number> {
  const { client, table, perCommit, tracker } = options;
  const started = Date.now();
  let written = 0;
  while (Date.now() < options.until) {
    const due = started + (written / options.perSecond) * 1000;
    while (Date.now() < due)
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, due - Date.now())));
    let result: pg.QueryResult<{ id: number; seq: string }>;
    if (Math.random() < 0.3) {
      const ids = Array.from({ length: perCommit }, () => options.nextInsert());
      result = await client.query(
        `INSERT INTO ${table} (id, balance, note, seq, updated_at) SELECT i, 0, 'new', nextval('${table}_seq'), now() FROM unnest($1::int[]) i RETURNING id, seq`,
        [ids],
      );
    } else {
      const ids = Array.from({ length: perCommit }, () => 1 + Math.floor(Math.random() * options.rows));
      result = await client.query(
        `UPDATE ${table} SET balance = balance + 1, seq = nextval('${table}_seq'), updated_at = now() WHERE id = ANY($1::int[]) RETURNING id, seq`,
        [ids],
      );
    }
    tracker.committed(
      result.rows.map((r) => ({ id: r.id, seq: Number(r.seq) })),
      Date.now(),
    );
    written += perCommit;
  }
  return written;
}
