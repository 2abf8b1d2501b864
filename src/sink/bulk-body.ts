/**
 * A `_bulk` request body built in place: each operation's NDJSON lines are encoded straight into
 * one buffer, reused from request to request (BodyPool). Nothing per document outlives its
 * `add` on the JavaScript heap but its id and tag: no per-document string or Buffer waits for
 * Elasticsearch's answer, so V8 promotes (and later collects) almost nothing (docs/benchmarks.md,
 * "Memory").
 */

import type { BulkItem } from "./bulk-writer.js";

export type BulkAction = BulkItem["action"];

/** An operation waiting out its backoff, its lines copied out of the body it was sent in. */
export interface RetryLine<Tag> {
  action: BulkAction;
  id: string;
  tag: Tag | undefined;
  line: Buffer;
  attempt: number;
  notBefore: number;
}

const NEWLINE = 0x0a;
const MIN_BUFFER = 64 * 1024;

export class BulkBody<Tag> {
  buffer: Buffer | undefined;
  /** Bytes written. */
  length = 0;
  readonly ids: string[] = [];
  readonly actions: BulkAction[] = [];
  readonly tags: (Tag | undefined)[] = [];
  /** Where each operation's lines end in the buffer (they start where the previous one ends). */
  readonly ends: number[] = [];
  readonly attempts: number[] = [];

  constructor(private readonly pool: BodyPool) {}

  get count(): number {
    return this.ids.length;
  }

  /** Appends one operation; returns its size in bytes. */
  write(action: BulkAction, id: string, source: string | undefined, tag: Tag | undefined): number {
    const meta = `{"${action}":{"_id":${JSON.stringify(id)}}}\n`;
    const body = action === "index" ? (source ?? "{}") : undefined;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room for the worst case, then the exact size.
    const buffer = this.reserve(3 * (meta.length + (body?.length ?? 0)) + 1);
    const start = this.length;
    let end = start + buffer.write(meta, start);
    if (body !== undefined) {
      end += buffer.write(body, end);
      buffer[end++] = NEWLINE;
    }
    this.push(action, id, tag, end, 0);
    return end - start;
  }

  /** Appends a retried operation's lines. */
  writeLine(retry: RetryLine<Tag>): void {
    const buffer = this.reserve(retry.line.length);
    retry.line.copy(buffer, this.length);
    this.push(retry.action, retry.id, retry.tag, this.length + retry.line.length, retry.attempt);
  }

  /** Operation `i` as the caller gave it, without its source (see `source`). */
  item(i: number): BulkItem<Tag> {
    const item: BulkItem<Tag> = { action: this.actions[i] as BulkAction, id: this.ids[i] as string };
    const tag = this.tags[i];
    if (tag !== undefined) item.tag = tag;
    return item;
  }

  /** The lines of operation `i`. */
  line(i: number): Buffer {
    return (this.buffer as Buffer).subarray(this.startOf(i), this.ends[i]);
  }

  /** The document source operation `i` carried (undefined for a delete). */
  source(i: number): string | undefined {
    if (this.actions[i] !== "index") return undefined;
    const buffer = this.buffer as Buffer;
    const sourceStart = buffer.indexOf(NEWLINE, this.startOf(i)) + 1;
    return buffer.toString("utf8", sourceStart, (this.ends[i] ?? 0) - 1);
  }

  /** Operation `i`, copied out of the buffer for a later request. */
  retryLine(i: number, attempt: number, notBefore: number): RetryLine<Tag> {
    return {
      action: this.actions[i] as BulkAction,
      id: this.ids[i] as string,
      tag: this.tags[i],
      line: Buffer.from(this.line(i)),
      attempt,
      notBefore,
    };
  }

  /** Takes the last operation off this body and puts it into `next` (it did not fit here). */
  moveLastTo(next: BulkBody<Tag>): void {
    const i = this.count - 1;
    const line = this.line(i);
    const target = next.reserve(line.length);
    line.copy(target, next.length);
    next.push(
      this.actions[i] as BulkAction,
      this.ids[i] as string,
      this.tags[i],
      next.length + line.length,
      this.attempts[i] ?? 0,
    );
    this.length = this.startOf(i);
    this.ids.pop();
    this.actions.pop();
    this.tags.pop();
    this.ends.pop();
    this.attempts.pop();
  }

  /** The bytes to send. */
  bytes(): Buffer {
    return (this.buffer ?? Buffer.alloc(0)).subarray(0, this.length);
  }

  /** Gives the buffer back for the next body; `reusable` false when a request may still hold it. */
  release(reusable: boolean): void {
    if (reusable && this.buffer !== undefined) this.pool.put(this.buffer);
    this.buffer = undefined;
  }

  private startOf(i: number): number {
    return i === 0 ? 0 : (this.ends[i - 1] ?? 0);
  }

  private push(action: BulkAction, id: string, tag: Tag | undefined, end: number, attempt: number): void {
    this.ids.push(id);
    this.actions.push(action);
    this.tags.push(tag);
    this.ends.push(end);
    this.attempts.push(attempt);
    this.length = end;
  }

  private reserve(extra: number): Buffer {
    const needed = this.length + extra;
    const buffer = this.buffer;
    if (buffer !== undefined && buffer.length >= needed) return buffer;
    // Doubling: a body reaches its size in a few copies, and the pool keeps it at that size.
    const bigger = this.pool.take(Math.max(needed, 2 * (buffer?.length ?? 0)));
    // The smaller one is left to the GC: the pool keeps bodies at their grown size.
    buffer?.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
    return bigger;
  }
}

/**
 * Body buffers kept for reuse: a request's buffer serves the next request once Elasticsearch has
 * answered, so the writer's memory for bodies stays at (concurrency + 1) × the largest body
 * instead of a fresh allocation per request that only a full GC frees.
 */
export class BodyPool {
  private readonly free: Buffer[] = [];

  constructor(
    /** Largest buffer kept (a body grown for one huge document is not). */
    private readonly maxKept: number,
    private readonly keep: number,
  ) {}

  take(atLeast: number): Buffer {
    const kept = this.free.pop();
    if (kept !== undefined && kept.length >= atLeast) return kept;
    // Uninitialised and outside V8's heap: pages count in RSS only once written.
    return Buffer.allocUnsafeSlow(Math.max(atLeast, MIN_BUFFER));
  }

  put(buffer: Buffer): void {
    if (this.free.length < this.keep && buffer.length <= this.maxKept) this.free.push(buffer);
  }
}

/** A `_bulk` answer, as filter_path leaves it. */
export interface BulkItemResult {
  status?: number;
  result?: string;
  error?: { type?: string; reason?: string };
}

export interface BulkResponse {
  errors?: boolean;
  items?: Partial<Record<"index" | "delete" | "create" | "update", BulkItemResult>>[];
}
