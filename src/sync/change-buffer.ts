import type { Pgoutput } from "pg-logical-replication";
import type { SourcePlan, SourceStream, StreamPart } from "../source/plan.js";

type Key = (string | null)[];

export interface PendingPart {
  stream: SourceStream;
  part: StreamPart;
  key: Key;
}

export interface PendingChange {
  stream: SourceStream;
  readonly key: Key;
}

/** The changes of whole transactions, taken out of the buffer to be applied together. */
export interface ChangeBatch {
  /** Commit LSN of the last transaction: confirmed to PostgreSQL once the batch is applied. */
  lsn: string;
  commitTime: number | undefined;
  /** Commit time of the batch's first transaction, and when its first change arrived (ms). */
  firstCommitTime: number | undefined;
  firstCollectedAt: number | undefined;
  changes: PendingChange[];
  parts: PendingPart[];
  truncates: string[];
  rereads: SourceStream[];
  /** Transaction ids (32-bit) the batch has changes from: its re-read must see them all. */
  xids: number[];
}

/**
 * Collects the keys pgoutput reports changed, per stream, until they are applied. Only keys are
 * kept (the rows are re-read at apply time), so a key changed many times is applied once.
 */
export class ChangeBuffer {
  private readonly byRelation = new Map<string, SourceStream>();
  /** Advanced-rule streams that read a relation, with where that table's key sits in the result. */
  private readonly partsByRelation = new Map<string, { stream: SourceStream; part: StreamPart }[]>();
  private pending = new Map<string, PendingChange>();
  private pendingParts = new Map<string, PendingPart>();
  private truncates = new Set<string>();
  private xids = new Set<number>();
  /** Advanced-rule streams to read again whole (a table they read was truncated). */
  private rereads = new Set<string>();
  private lastCommitLsn: string | undefined;
  private lastCommitTime: number | undefined;
  /** When the oldest pending change arrived (ms), to apply within `maxDelayMs`. */
  firstPendingAt: number | undefined;
  /** Commit time of the oldest pending change's transaction (ms), to time the stream. */
  private firstCommitTime: number | undefined;
  /** Relations whose columns changed (ALTER TABLE): their streams are planned again before use. */
  readonly changedRelations = new Set<string>();
  private readonly knownColumns = new Map<string, string>();

  constructor(private readonly plan: SourcePlan) {
    for (const stream of plan.streams) {
      if (stream.kind === "table") {
        this.byRelation.set(relationOf(stream), stream);
        // As planned: a relation message that differs (the table changed since) triggers a replan.
        const planned = stream.columns.map((c, i) => `${c.name}:${stream.keyIndexes.includes(i) ? 1 : 0}`);
        this.knownColumns.set(relationOf(stream), planned.join("\u0000"));
      }
      for (const part of stream.parts ?? []) {
        const list = this.partsByRelation.get(part.relation) ?? [];
        list.push({ stream, part });
        this.partsByRelation.set(part.relation, list);
      }
    }
  }

  /** The followed table streams (the current plan of each, after ALTER TABLE). */
  tableStreams(): SourceStream[] {
    return [...this.byRelation.values()];
  }

  streamOf(relation: string): SourceStream | undefined {
    return this.byRelation.get(relation);
  }

  /** After a replan: changes collected since the batch being applied was taken use the new plan too. */
  replaceStream(relation: string, stream: SourceStream): void {
    this.byRelation.set(relation, stream);
    for (const change of this.pending.values()) if (change.stream.id === stream.id) change.stream = stream;
  }

  get keyCount(): number {
    return this.pending.size;
  }

  isEmpty(): boolean {
    return (
      this.pending.size === 0 &&
      this.pendingParts.size === 0 &&
      this.truncates.size === 0 &&
      this.rereads.size === 0
    );
  }

  collect(lsn: string, message: Pgoutput.Message): void {
    switch (message.tag) {
      case "insert":
      case "update":
      case "delete":
        this.collectRow(message);
        return;
      case "truncate":
        this.collectTruncate(message);
        return;
      case "relation": {
        // Sent before the first change of a relation and after every ALTER TABLE.
        const key = `${message.schema}.${message.name}`;
        // Names and key flags: a new column, or a primary key moved to other columns.
        const columns = message.columns.map((c) => `${c.name}:${String(c.flags)}`).join("\u0000");
        const known = this.knownColumns.get(key);
        if (known !== undefined && known !== columns) this.changedRelations.add(key);
        this.knownColumns.set(key, columns);
        return;
      }
      case "begin":
        // At begin, not commit: a batch taken inside a transaction has some of its changes.
        this.xids.add(message.xid);
        return;
      case "commit":
        this.lastCommitLsn = message.commitEndLsn ?? lsn;
        this.lastCommitTime = Number(message.commitTime) / 1000;
        if (this.firstPendingAt !== undefined) this.firstCommitTime ??= this.lastCommitTime;
        return;
      default:
        return;
    }
  }

  private collectRow(
    message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete,
  ): void {
    const relation = `${message.relation.schema}.${message.relation.name}`;
    const tuples = message.tag === "delete" ? [message.key ?? message.old] : [message.new];
    // An update that changed the primary key also carries the old key: its document goes.
    if (message.tag === "update" && message.key !== null) tuples.push(message.key);
    for (const tuple of tuples) {
      if (tuple === null) continue;
      const stream = this.byRelation.get(relation);
      if (stream !== undefined) {
        const key = stream.keyIndexes.map((i) => keyText(tuple[stream.columns[i]?.name ?? ""]));
        this.pending.set(`${stream.id}\u0000${JSON.stringify(key)}`, { stream, key });
      }
      for (const { stream: queryStream, part } of this.partsByRelation.get(relation) ?? []) {
        const key = part.columnIndexes.map((i) => keyText(tuple[queryStream.columns[i]?.name ?? ""]));
        this.pendingParts.set(`${queryStream.id}\u0000${relation}\u0000${JSON.stringify(key)}`, {
          stream: queryStream,
          part,
          key,
        });
      }
    }
    this.firstPendingAt ??= Date.now();
  }

  private collectTruncate(message: Pgoutput.MessageTruncate): void {
    for (const relation of message.relations) {
      const name = `${relation.schema}.${relation.name}`;
      const stream = this.byRelation.get(name);
      if (stream !== undefined) this.truncates.add(stream.id);
      // A rule reading the table may lose (or, with NOT EXISTS, gain) any of its rows.
      for (const { stream: queryStream } of this.partsByRelation.get(name) ?? [])
        this.rereads.add(queryStream.id);
    }
    this.firstPendingAt ??= Date.now();
  }

  /** Takes every complete transaction's changes; undefined when there is nothing to apply. */
  take(): ChangeBatch | undefined {
    const lsn = this.lastCommitLsn;
    if (lsn === undefined || this.isEmpty()) return undefined;
    const batch: ChangeBatch = {
      lsn,
      commitTime: this.lastCommitTime,
      firstCommitTime: this.firstCommitTime,
      firstCollectedAt: this.firstPendingAt,
      changes: [...this.pending.values()],
      parts: [...this.pendingParts.values()],
      truncates: [...this.truncates],
      rereads: this.plan.streams.filter((s) => this.rereads.has(s.id)),
      xids: [...this.xids],
    };
    this.pending = new Map();
    this.pendingParts = new Map();
    this.truncates = new Set();
    this.rereads = new Set();
    this.xids = new Set();
    this.firstPendingAt = undefined;
    this.firstCommitTime = undefined;
    return batch;
  }
}

export function relationOf(stream: SourceStream): string {
  return `${stream.schema}.${stream.tables[0] ?? ""}`;
}

/** Key values as PostgreSQL text, from the values pgoutput's parser produced. */
function keyText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return value.toString();
  return JSON.stringify(value);
}
