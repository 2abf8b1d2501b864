import type { Client } from "@elastic/elasticsearch";
import { setTimeout as sleep } from "node:timers/promises";
import { CanceledError, SinkError, TooManyErrorsError, throwIfAborted } from "../errors.js";
import { BodyPool, BulkBody, type BulkResponse, type RetryLine } from "./bulk-body.js";
import { describeEsError } from "./es-client.js";

/** One operation for `_bulk`. `tag` comes back in callbacks (the sync uses it for checkpoints). */
export interface BulkItem<Tag = unknown> {
  action: "index" | "delete";
  id: string;
  /** The document's JSON source (index only). */
  source?: string;
  tag?: Tag;
}

export type ItemOutcome = "created" | "updated" | "noop" | "deleted" | "not_found" | "failed";

export interface ItemFailure {
  id: string;
  action: BulkItem["action"];
  status: number;
  reason: string;
  tag: unknown;
}

export interface ErrorBudget {
  /** Stop after more than this many failures in a row. */
  maxConsecutive: number;
  /** Stop after more than this many failures in total. */
  maxTotal: number;
  /** Stop when more than this share of the last `window` items failed. */
  maxRate: number;
  window: number;
}

export interface BulkWriterOptions<Tag> {
  client: Client;
  index: string;
  pipeline?: string | undefined;
  /** Flush a request when its body would exceed this many bytes... */
  maxBytes: number;
  /** ...or hold this many operations. */
  maxDocs: number;
  /** Requests in flight; `add` waits when all are busy (backpressure to the reader). */
  concurrency: number;
  /** Attempts per item for retryable failures (429, 5xx, timeouts); default 20 (minutes of backoff). */
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  requestTimeoutMs?: number;
  errorBudget?: ErrorBudget;
  signal?: AbortSignal | undefined;
  onItem?: (item: BulkItem<Tag>, outcome: ItemOutcome, failure?: ItemFailure) => void;
  /** Called for each retry round, for logs and tests. */
  onRetry?: (info: { items: number; attempt: number; delayMs: number; reason: string }) => void;
}

export interface BulkStats {
  created: number;
  updated: number;
  noop: number;
  deleted: number;
  notFound: number;
  failed: number;
  /** Bytes of NDJSON sent, retries included. */
  bytesSent: number;
  /** Bytes accepted by add() and not yet settled by Elasticsearch (batch, in flight, retries). */
  queuedBytes: number;
  requests: number;
  retries: number;
}

export const DEFAULT_ERROR_BUDGET: ErrorBudget = {
  maxConsecutive: 10,
  maxTotal: 1000,
  maxRate: 0.15,
  window: 100,
};

/**
 * Writes to Elasticsearch through `_bulk` with a pre-built NDJSON body. Batches are bounded in
 * bytes and operations; retryable item failures (429, 5xx) and failed requests are retried with
 * exponential backoff and full jitter; other failures are reported per item with the reason, and
 * an error budget stops the sync when too many fail.
 */
export class BulkWriter<Tag = unknown> {
  readonly stats: BulkStats = {
    created: 0,
    updated: 0,
    noop: 0,
    deleted: 0,
    notFound: 0,
    failed: 0,
    bytesSent: 0,
    queuedBytes: 0,
    requests: 0,
    retries: 0,
  };
  /** The first failures, kept for the final report. */
  readonly failures: ItemFailure[] = [];

  private body: BulkBody<Tag>;
  private readonly pool: BodyPool;
  /** Items waiting out their backoff before going back into a body. */
  private retryQueue: RetryLine<Tag>[] = [];
  /** Earliest notBefore in the retry queue (Infinity when empty), so `add` checks it cheaply. */
  private nextRetryAt = Number.POSITIVE_INFINITY;
  private readonly inFlight = new Set<Promise<void>>();
  private fatal: Error | undefined;
  private consecutiveFailures = 0;
  private readonly recent: boolean[] = [];
  private readonly path: string;
  private readonly querystring: Record<string, string>;
  private readonly budget: ErrorBudget;

  constructor(private readonly options: BulkWriterOptions<Tag>) {
    this.path = `/${encodeURIComponent(options.index)}/_bulk`;
    this.querystring = {
      filter_path: "errors,items.*.status,items.*.result,items.*.error.type,items.*.error.reason",
      ...(options.pipeline === undefined ? {} : { pipeline: options.pipeline }),
    };
    this.budget = options.errorBudget ?? DEFAULT_ERROR_BUDGET;
    // One body being filled and one per request in flight; a body grown for a huge document
    // (beyond twice the byte limit) is not kept.
    this.pool = new BodyPool(2 * options.maxBytes + 256 * 1024, options.concurrency + 1);
    this.body = new BulkBody(this.pool);
  }

  /** Queues an operation; resolves once there is room for more (callers must await it). */
  async add(item: BulkItem<Tag>): Promise<void> {
    await this.queue(item);
  }

  /**
   * add() for hot loops: the operation's lines are encoded into the request body at once, and a
   * promise is returned only when the caller must wait (a request to send while all are busy, a
   * retry backlog), so the common case costs none. Callers must await what it returns.
   */
  queue(item: BulkItem<Tag>): Promise<void> | undefined {
    this.check();
    if (this.retryQueue.length > 0) return this.addAfterRetries(item);
    return this.encode(item);
  }

  /**
   * Resolves once a request slot is free (undefined when one is). A reader that waits here before
   * reading more hands its rows on at once instead of holding them while Elasticsearch is busy:
   * held that long, V8 would move them to the old space, which only a full GC empties.
   */
  ready(): Promise<void> | undefined {
    if (this.inFlight.size < this.options.concurrency) return undefined;
    return Promise.race(this.inFlight);
  }

  private async addAfterRetries(item: BulkItem<Tag>): Promise<void> {
    // Under sustained rejections the backlog of retries slows the reader down.
    while (this.retryQueue.length > this.options.maxDocs * this.options.concurrency) {
      await this.waitForRetries();
      this.check();
    }
    if (this.nextRetryAt <= Date.now()) await this.takeDueRetries();
    await this.encode(item);
  }

  private encode(item: BulkItem<Tag>): Promise<void> | undefined {
    const bytes = this.body.write(item.action, item.id, item.source, item.tag);
    this.stats.queuedBytes += bytes;
    return this.afterAppend();
  }

  private async append(retry: RetryLine<Tag>): Promise<void> {
    this.body.writeLine(retry);
    await this.afterAppend();
  }

  /** Dispatches what the last append filled: the body before it when it did not fit, or the body. */
  private afterAppend(): Promise<void> | undefined {
    const body = this.body;
    if (body.count > 1 && body.length > this.options.maxBytes) {
      // The new operation goes into the next body; this one leaves without it.
      const next = new BulkBody<Tag>(this.pool);
      body.moveLastTo(next);
      this.body = next;
      return this.dispatchBody(body).then(() => this.afterAppend());
    }
    if (body.count >= this.options.maxDocs || body.length >= this.options.maxBytes) return this.dispatch();
    return undefined;
  }

  /** Sends what is queued, waits for every request in flight and every retry. */
  async flush(): Promise<void> {
    for (;;) {
      this.check();
      await this.takeDueRetries();
      if (this.body.count > 0) await this.dispatch();
      if (this.inFlight.size > 0) {
        await Promise.race(this.inFlight);
        continue;
      }
      if (this.retryQueue.length === 0) break;
      await this.waitForRetries();
    }
    this.check();
  }

  /** Moves retries whose backoff has passed into the current body. */
  private async takeDueRetries(): Promise<void> {
    const now = Date.now();
    const due = this.retryQueue.filter((p) => p.notBefore <= now);
    if (due.length === 0) return;
    this.retryQueue = this.retryQueue.filter((p) => p.notBefore > now);
    this.nextRetryAt = this.retryQueue.reduce(
      (min, p) => Math.min(min, p.notBefore),
      Number.POSITIVE_INFINITY,
    );
    for (const retry of due) await this.append(retry);
  }

  /** Resolves when the earliest retry is due (or a request finishes). */
  private async waitForRetries(): Promise<void> {
    const earliest = Math.min(...this.retryQueue.map((p) => p.notBefore));
    const delay = Math.max(0, earliest - Date.now());
    await Promise.race([
      sleep(delay, undefined, { signal: this.options.signal }).catch(() => undefined),
      ...this.inFlight,
    ]);
    await this.takeDueRetries();
    if (this.body.count > 0 && this.inFlight.size < this.options.concurrency) await this.dispatch();
  }

  private check(): void {
    if (this.fatal !== undefined) throw this.fatal;
    throwIfAborted(this.options.signal);
  }

  private dispatch(): Promise<void> {
    const body = this.body;
    this.body = new BulkBody(this.pool);
    return this.dispatchBody(body);
  }

  private async dispatchBody(body: BulkBody<Tag>): Promise<void> {
    while (this.inFlight.size >= this.options.concurrency) await Promise.race(this.inFlight);
    this.check();
    const task = this.send(body)
      .catch((error: unknown) => {
        this.fatal ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /**
   * Sends a body once. Retryable items wait out their own backoff in the retry queue and join a
   * later body, so one unlucky batch never holds a request slot while it sleeps.
   */
  private async send(body: BulkBody<Tag>): Promise<void> {
    let retry: number[] = [];
    let reason = "";
    let answered = false;
    try {
      ({ retry, reason, answered } = await this.sendOnce(body));
    } finally {
      // Retried items stay queued; everything else is settled (or the sync is over).
      let retryBytes = 0;
      for (const i of retry) retryBytes += body.line(i).length;
      this.stats.queuedBytes -= body.length - retryBytes;
    }
    const now = Date.now();
    let maxDelay = 0;
    for (const i of retry) {
      const attempt = body.attempts[i] ?? 1;
      const delayMs = this.backoff(attempt);
      maxDelay = Math.max(maxDelay, delayMs);
      this.retryQueue.push(body.retryLine(i, attempt, now + delayMs));
      this.nextRetryAt = Math.min(this.nextRetryAt, now + delayMs);
    }
    // Answered: the request wrote the whole body, nothing holds the buffer any more.
    body.release(answered);
    if (retry.length === 0) return;
    this.stats.retries += retry.length;
    this.options.onRetry?.({
      items: retry.length,
      attempt: body.attempts[retry[0] ?? 0] ?? 1,
      delayMs: maxDelay,
      reason,
    });
  }

  /**
   * Returns the operations to retry (their positions in the body) and why (the first retryable
   * failure, as Elasticsearch said it).
   */
  private async sendOnce(
    body: BulkBody<Tag>,
  ): Promise<{ retry: number[]; reason: string; answered: boolean }> {
    const bytes = body.bytes();
    let response: BulkResponse;
    try {
      this.stats.requests++;
      this.stats.bytesSent += bytes.length;
      response = await this.options.client.transport.request<BulkResponse>(
        { method: "POST", path: this.path, querystring: this.querystring, bulkBody: bytes },
        {
          maxRetries: 0,
          signal: this.options.signal,
          ...(this.options.requestTimeoutMs === undefined
            ? {}
            : { requestTimeout: this.options.requestTimeoutMs }),
        },
      );
    } catch (error) {
      if (this.options.signal?.aborted === true) throw new CanceledError("canceled", { cause: error });
      const sinkError = describeEsError(error, "bulk request failed");
      if (!sinkError.retryable) throw sinkError;
      const all = Array.from({ length: body.count }, (_, i) => i);
      return {
        retry: this.retryOrFail(body, all, sinkError.status ?? 0, sinkError.message),
        reason: sinkError.message,
        answered: false,
      };
    }
    const items = response.items ?? [];
    if (items.length !== body.count) {
      throw new SinkError(`bulk response has ${items.length} items for ${body.count} operations`);
    }
    const retry: number[] = [];
    let retryReason = "";
    let retryStatus = 429;
    for (let i = 0; i < body.count; i++) {
      const entry = items[i];
      const result = entry?.index ?? entry?.delete ?? entry?.create ?? entry?.update ?? { status: 0 };
      const status = result.status ?? 0;
      if (status >= 200 && status < 300) {
        this.succeeded(body, i, result.result);
      } else if (status === 404 && body.actions[i] === "delete") {
        this.stats.notFound++;
        this.recordOutcome(true);
        this.options.onItem?.(body.item(i), "not_found");
      } else if (status === 429 || status >= 500) {
        if (retry.length === 0) {
          retryStatus = status;
          retryReason = `HTTP ${String(status)}${result.error === undefined ? "" : ` ${result.error.type}: ${result.error.reason}`}`;
        }
        retry.push(i);
      } else {
        this.failed(
          body,
          i,
          status,
          result.error === undefined ? `HTTP ${status}` : `${result.error.type}: ${result.error.reason}`,
        );
      }
    }
    const again = retry.length === 0 ? retry : this.retryOrFail(body, retry, retryStatus, retryReason);
    return { retry: again, reason: retryReason, answered: true };
  }

  /** Counts an attempt for each operation `which`; returns those with attempts left. */
  private retryOrFail(body: BulkBody<Tag>, which: number[], status: number, reason: string): number[] {
    const maxAttempts = this.options.maxAttempts ?? 20;
    const again: number[] = [];
    for (const i of which) {
      const attempt = (body.attempts[i] ?? 0) + 1;
      body.attempts[i] = attempt;
      if (attempt >= maxAttempts)
        this.failed(body, i, status, `gave up after ${maxAttempts} attempts: ${reason}`);
      else again.push(i);
    }
    return again;
  }

  private succeeded(body: BulkBody<Tag>, i: number, result: string | undefined): void {
    let outcome: ItemOutcome;
    if (body.actions[i] === "delete") {
      outcome = "deleted";
      this.stats.deleted++;
    } else if (result === "updated") {
      outcome = "updated";
      this.stats.updated++;
    } else if (result === "noop") {
      outcome = "noop";
      this.stats.noop++;
    } else {
      outcome = "created";
      this.stats.created++;
    }
    this.recordOutcome(true);
    this.options.onItem?.(body.item(i), outcome);
  }

  private failed(body: BulkBody<Tag>, i: number, status: number, reason: string): void {
    // The refused document's source is read back from the body (the follower records it).
    const item: BulkItem<Tag> = { ...body.item(i), source: body.source(i) };
    const failure: ItemFailure = { id: item.id, action: item.action, status, reason, tag: item.tag };
    this.stats.failed++;
    if (this.failures.length < 100) this.failures.push(failure);
    this.options.onItem?.(item, "failed", failure);
    this.recordOutcome(false);
    const b = this.budget;
    const recentFailures = this.recent.filter((ok) => !ok).length;
    let why: string | undefined;
    if (this.consecutiveFailures > b.maxConsecutive) why = `more than ${b.maxConsecutive} consecutive`;
    else if (this.stats.failed > b.maxTotal) why = `more than ${b.maxTotal} in total`;
    else if (this.recent.length >= b.window && recentFailures / this.recent.length > b.maxRate) {
      why = `${recentFailures} of the last ${this.recent.length}`;
    }
    if (why !== undefined && this.fatal === undefined) {
      this.fatal = new TooManyErrorsError(
        `too many documents failed to index (${why}); last: id ${failure.id}: ${failure.reason}`,
      );
    }
  }

  private recordOutcome(ok: boolean): void {
    this.consecutiveFailures = ok ? 0 : this.consecutiveFailures + 1;
    this.recent.push(ok);
    if (this.recent.length > this.budget.window) this.recent.shift();
  }

  /** Exponential backoff with full jitter, so many writers do not retry in step. */
  private backoff(round: number): number {
    const base = this.options.backoffBaseMs ?? 100;
    const max = this.options.backoffMaxMs ?? 10_000;
    const ceiling = Math.min(max, base * 2 ** (round - 1));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}
