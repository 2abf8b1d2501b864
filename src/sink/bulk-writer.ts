import type { Client } from "@elastic/elasticsearch";
import { setTimeout as sleep } from "node:timers/promises";
import { CanceledError, SinkError, TooManyErrorsError, throwIfAborted } from "../errors.js";
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

interface Pending<Tag> {
  item: BulkItem<Tag>;
  /** The NDJSON lines, encoded once: sizes come from it and bodies are concatenated from it. */
  line: Buffer;
  bytes: number;
  attempt: number;
}

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

  private batch: Pending<Tag>[] = [];
  private batchBytes = 0;
  /** Items waiting out their backoff before going back into a batch. */
  private retryQueue: (Pending<Tag> & { notBefore: number })[] = [];
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
  }

  /** Queues an operation; resolves once there is room for more (callers must await it). */
  async add(item: BulkItem<Tag>): Promise<void> {
    this.check();
    // Under sustained rejections the backlog of retries slows the reader down.
    while (this.retryQueue.length > this.options.maxDocs * this.options.concurrency) {
      await this.waitForRetries();
      this.check();
    }
    if (this.nextRetryAt <= Date.now()) await this.takeDueRetries();
    const meta = `{"${item.action}":{"_id":${JSON.stringify(item.id)}}}\n`;
    const line = Buffer.from(item.action === "index" ? `${meta}${item.source ?? "{}"}\n` : meta);
    const bytes = line.length;
    this.stats.queuedBytes += bytes;
    await this.append({ item, line, bytes, attempt: 0 });
  }

  private async append(pending: Pending<Tag>): Promise<void> {
    const bytes = pending.bytes;
    if (this.batch.length > 0 && this.batchBytes + bytes > this.options.maxBytes) await this.dispatch();
    this.batch.push(pending);
    this.batchBytes += bytes;
    if (this.batch.length >= this.options.maxDocs || this.batchBytes >= this.options.maxBytes)
      await this.dispatch();
  }

  /** Sends what is queued, waits for every request in flight and every retry. */
  async flush(): Promise<void> {
    for (;;) {
      this.check();
      await this.takeDueRetries();
      if (this.batch.length > 0) await this.dispatch();
      if (this.inFlight.size > 0) {
        await Promise.race(this.inFlight);
        continue;
      }
      if (this.retryQueue.length === 0) break;
      await this.waitForRetries();
    }
    this.check();
  }

  /** Moves retries whose backoff has passed into the current batch. */
  private async takeDueRetries(): Promise<void> {
    const now = Date.now();
    const due = this.retryQueue.filter((p) => p.notBefore <= now);
    if (due.length === 0) return;
    this.retryQueue = this.retryQueue.filter((p) => p.notBefore > now);
    this.nextRetryAt = this.retryQueue.reduce(
      (min, p) => Math.min(min, p.notBefore),
      Number.POSITIVE_INFINITY,
    );
    for (const pending of due) await this.append(pending);
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
    if (this.batch.length > 0 && this.inFlight.size < this.options.concurrency) await this.dispatch();
  }

  private check(): void {
    if (this.fatal !== undefined) throw this.fatal;
    throwIfAborted(this.options.signal);
  }

  private async dispatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    while (this.inFlight.size >= this.options.concurrency) await Promise.race(this.inFlight);
    this.check();
    const task = this.send(batch)
      .catch((error: unknown) => {
        this.fatal ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /**
   * Sends a batch once. Retryable items wait out their own backoff in the retry queue and join a
   * later batch, so one unlucky batch never holds a request slot while it sleeps.
   */
  private async send(batch: Pending<Tag>[]): Promise<void> {
    let retry: Pending<Tag>[] = [];
    let reason = "";
    try {
      ({ retry, reason } = await this.sendOnce(batch));
    } finally {
      // Retried items stay queued; everything else is settled (or the sync is over).
      this.stats.queuedBytes -= sumBytes(batch) - sumBytes(retry);
    }
    if (retry.length === 0) return;
    const now = Date.now();
    let maxDelay = 0;
    for (const pending of retry) {
      const delayMs = this.backoff(pending.attempt);
      maxDelay = Math.max(maxDelay, delayMs);
      this.retryQueue.push({ ...pending, notBefore: now + delayMs });
      this.nextRetryAt = Math.min(this.nextRetryAt, now + delayMs);
    }
    this.stats.retries += retry.length;
    this.options.onRetry?.({
      items: retry.length,
      attempt: retry[0]?.attempt ?? 1,
      delayMs: maxDelay,
      reason,
    });
  }

  /** Returns the operations to retry and why (the first retryable failure, as Elasticsearch said it). */
  private async sendOnce(batch: Pending<Tag>[]): Promise<{ retry: Pending<Tag>[]; reason: string }> {
    const body = Buffer.concat(
      batch.map((p) => p.line),
      sumBytes(batch),
    );
    let response: BulkResponse;
    try {
      this.stats.requests++;
      this.stats.bytesSent += body.length;
      response = await this.options.client.transport.request<BulkResponse>(
        { method: "POST", path: this.path, querystring: this.querystring, bulkBody: body },
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
      return {
        retry: this.retryOrFail(batch, sinkError.status ?? 0, sinkError.message),
        reason: sinkError.message,
      };
    }
    const items = response.items ?? [];
    if (items.length !== batch.length) {
      throw new SinkError(`bulk response has ${items.length} items for ${batch.length} operations`);
    }
    const retry: Pending<Tag>[] = [];
    let retryReason = "";
    let retryStatus = 429;
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i] as Pending<Tag>;
      const result = Object.values(items[i] ?? {})[0] ?? { status: 0 };
      const status = result.status ?? 0;
      if (status >= 200 && status < 300) {
        this.succeeded(pending.item, result.result);
      } else if (status === 404 && pending.item.action === "delete") {
        this.stats.notFound++;
        this.recordOutcome(true);
        this.options.onItem?.(pending.item, "not_found");
      } else if (status === 429 || status >= 500) {
        if (retry.length === 0) {
          retryStatus = status;
          retryReason = `HTTP ${String(status)}${result.error === undefined ? "" : ` ${result.error.type}: ${result.error.reason}`}`;
        }
        retry.push(pending);
      } else {
        this.failed(
          pending,
          status,
          result.error === undefined ? `HTTP ${status}` : `${result.error.type}: ${result.error.reason}`,
        );
      }
    }
    if (retry.length === 0) return { retry, reason: "" };
    return { retry: this.retryOrFail(retry, retryStatus, retryReason), reason: retryReason };
  }

  private retryOrFail(batch: Pending<Tag>[], status: number, reason: string): Pending<Tag>[] {
    const maxAttempts = this.options.maxAttempts ?? 20;
    const again: Pending<Tag>[] = [];
    for (const pending of batch) {
      pending.attempt++;
      if (pending.attempt >= maxAttempts)
        this.failed(pending, status, `gave up after ${maxAttempts} attempts: ${reason}`);
      else again.push(pending);
    }
    return again;
  }

  private succeeded(item: BulkItem<Tag>, result: string | undefined): void {
    let outcome: ItemOutcome;
    if (item.action === "delete") {
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
    this.options.onItem?.(item, outcome);
  }

  private failed(pending: Pending<Tag>, status: number, reason: string): void {
    const failure: ItemFailure = {
      id: pending.item.id,
      action: pending.item.action,
      status,
      reason,
      tag: pending.item.tag,
    };
    this.stats.failed++;
    if (this.failures.length < 100) this.failures.push(failure);
    this.options.onItem?.(pending.item, "failed", failure);
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

interface BulkItemResult {
  status?: number;
  result?: string;
  error?: { type?: string; reason?: string };
}

interface BulkResponse {
  errors?: boolean;
  items?: Record<string, BulkItemResult>[];
}

function sumBytes(items: readonly { bytes: number }[]): number {
  let total = 0;
  for (const item of items) total += item.bytes;
  return total;
}
