import { setTimeout as sleep } from "node:timers/promises";
import type { PostgresConfig } from "../config/postgres-config.js";
import { CanceledError, ConfigError, DocumentError, SourceError, throwIfAborted } from "../errors.js";
import type { AdvancedRule } from "../rules/advanced.js";
import { assertSafeFunctions } from "../rules/functions.js";
import type { ServerInfo, TableInfo } from "./catalog.js";
import { describeQuery, listTables, missingSchemas, roleWarnings, serverInfo } from "./catalog.js";
import type { ConnectionFactory, PgClient } from "./connection.js";
import { isConnectionLost, queryWithSignal } from "./connection.js";
import type { SourcePlan, SourceStream } from "./plan.js";
import { planTables, queryStream, stripTrailingSemicolon } from "./plan.js";
import type { ReadOptions, SourceRow } from "./reader.js";
import { buildKeySelect, buildSelect, readStream, rowParts } from "./reader.js";
import { SyncSnapshot } from "./snapshot.js";
import { quoteIdent } from "./sql.js";

export interface SourceEvents {
  /** A read lost its connection and resumes after the last delivered key. */
  onRetry?: (info: { stream: string; attempt: number; error: unknown }) => void;
}

/** The PostgreSQL side of a sync: discovery, consistent snapshots, resumable streaming reads. */
export class PostgresSource {
  constructor(
    readonly config: PostgresConfig,
    private readonly connections: ConnectionFactory,
    private readonly events: SourceEvents = {},
  ) {}

  /** Connects and runs a trivial query; throws a SourceError that says what to check. */
  async ping(signal?: AbortSignal): Promise<ServerInfo> {
    return this.withClient((client) => serverInfo(client, signal), signal);
  }

  /** Privileges of the configured role that this use does not need (validate prints them). */
  async roleWarnings(options: { follow?: boolean } = {}, signal?: AbortSignal): Promise<string[]> {
    return this.withClient((client) => roleWarnings(client, options, signal), signal);
  }

  async catalog(signal?: AbortSignal): Promise<TableInfo[]> {
    return this.withClient((client) => listTables(client, this.config.schemas, signal), signal);
  }

  /**
   * Decides what a sync reads: advanced rules when there are any (the `tables` field is then
   * ignored, as in the reference), else the configured tables.
   */
  async plan(advancedRules: AdvancedRule[], signal?: AbortSignal): Promise<SourcePlan> {
    return this.withClient(async (client) => {
      const server = await serverInfo(client, signal);
      const missing = await missingSchemas(client, this.config.schemas, signal);
      if (missing.length > 0) {
        // A typo here would sync nothing, and the delete pass would then empty the index.
        throw new ConfigError(
          "configuration.schema",
          `schema ${missing.map((name) => JSON.stringify(name)).join(", ")} does not exist in database ${this.config.database}`,
        );
      }
      const catalog = await listTables(client, this.config.schemas, signal);
      if (advancedRules.length === 0) {
        return { server, ...planTables(this.config, catalog) };
      }
      await client.query(`SET search_path = ${this.searchPath().map(quoteIdent).join(", ")}`);
      const streams: SourceStream[] = [];
      for (const rule of advancedRules) {
        await assertSafeFunctions(client, rule, signal);
        const columns = await describeQuery(client, stripTrailingSemicolon(rule.query), signal).catch(
          (error: unknown) => {
            throw new SourceError(`advanced[${rule.index}]: the query fails: ${(error as Error).message}`, {
              code: "sync_rule_invalid",
              cause: error,
            });
          },
        );
        streams.push(queryStream(rule, this.config, catalog, columns));
      }
      return { server, streams, skipped: [] };
    }, signal);
  }

  openSnapshot(signal?: AbortSignal): Promise<SyncSnapshot> {
    return SyncSnapshot.open(this.connections, this.searchPath(), signal);
  }

  /**
   * A connection outside any transaction for follow's re-reads, kept for many batches (a new
   * snapshot per batch would cost two connections); names resolve as in a snapshot's readers.
   */
  async connect(signal?: AbortSignal): Promise<PgClient> {
    const client = await this.connections.connect(signal);
    try {
      await queryWithSignal(
        client,
        `SET search_path = ${this.searchPath().map(quoteIdent).join(", ")}`,
        [],
        signal,
      );
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /**
   * Reads a stream in key order. A dropped connection is retried `retry_count` times, resuming
   * after the last key already delivered: no row is delivered twice or skipped.
   */
  async *read(
    snapshot: SyncSnapshot,
    stream: SourceStream,
    server: ServerInfo,
    options: ReadOptions,
  ): AsyncGenerator<SourceRow[]> {
    let after = options.after;
    let attempt = 0;
    for (;;) {
      throwIfAborted(options.signal);
      let client: PgClient | undefined;
      try {
        client = await snapshot.reader(options.signal);
        for await (const batch of readStream(client, stream, server, { ...options, after })) {
          const last = batch[batch.length - 1];
          yield batch;
          if (last !== undefined) after = last.key;
          attempt = 0;
        }
        return;
      } catch (error) {
        if (error instanceof CanceledError || options.signal?.aborted === true) throw error;
        if (!isConnectionLost(error) || attempt >= this.config.retryCount) {
          const key = isRowError(error)
            ? await this.locateFailingRow(stream, server, after, options.batchRows, options.signal).catch(
                () => undefined,
              )
            : undefined;
          if (key !== undefined) {
            throw new DocumentError(stream.id, JSON.stringify(key), (error as Error).message, {
              cause: error,
            });
          }
          throw wrapReadError(error, stream);
        }
        attempt++;
        this.events.onRetry?.({ stream: stream.id, attempt, error });
        await sleep(Math.min(500 * 2 ** (attempt - 1), 8000), undefined, { signal: options.signal }).catch(
          () => undefined,
        );
      } finally {
        if (client !== undefined) await snapshot.release(client);
      }
    }
  }

  /**
   * Which of the given keys still exist in the stream (in this snapshot): the delete pass asks
   * this for keys it found in the index. Returns the JSON-encoded keys that exist, with their
   * current document when `withDocs` (so rules can be re-applied).
   */
  async existing(
    client: PgClient,
    stream: SourceStream,
    server: ServerInfo,
    keys: (string | null)[][],
    signal?: AbortSignal,
    options: { keysOnly?: boolean } = {},
  ): Promise<Map<string, SourceRow>> {
    const { sql, keyTypes, filterParams } = buildSelect(stream, server, { keysIn: true, ...options });
    const columns: unknown[] = [...keyTypes.map((_, i) => keys.map((k) => k[i] ?? null)), ...filterParams];
    const result = await queryWithSignal<Record<string, string | null>>(client, sql, columns, signal);
    const found = new Map<string, SourceRow>();
    for (const row of result.rows) {
      const key = keyTypes.map((_, i) => row[`k${i}`] ?? null);
      found.set(JSON.stringify(key), {
        key,
        doc: row.doc ?? "{}",
        committedAt: row.ts ?? null,
        parts: rowParts(stream, row),
      });
    }
    return found;
  }

  /**
   * Unqualified names in advanced-rule queries resolve in the configured schemas first; public
   * stays on the path so extension functions installed there keep working.
   */
  private searchPath(): string[] {
    return [...new Set([...this.config.schemas, "public"])];
  }

  /** Rows of a query stream whose listed table `part` has one of these keys (follow mode). */
  async rowsByPart(
    client: PgClient,
    stream: SourceStream,
    server: ServerInfo,
    columnIndexes: number[],
    keys: (string | null)[][],
    signal?: AbortSignal,
  ): Promise<SourceRow[]> {
    const { sql, filterParams } = buildSelect(stream, server, { columnsIn: columnIndexes });
    const params: unknown[] = [
      ...columnIndexes.map((_, i) => keys.map((k) => k[i] ?? null)),
      ...filterParams,
    ];
    const result = await queryWithSignal<Record<string, string | null>>(client, sql, params, signal);
    return result.rows.map((row) => ({
      key: stream.keyIndexes.map((_, i) => row[`k${i}`] ?? null),
      doc: row.doc ?? "{}",
      committedAt: row.ts ?? null,
      parts: rowParts(stream, row),
    }));
  }

  /**
   * A read failed on a value (division by zero, a bad cast...): PostgreSQL does not say on which
   * row, so find it among the next keys by rendering halves of them until one key is left.
   * Runs outside the sync's snapshot (its transaction is aborted); a row changed meanwhile can
   * only make this find nothing.
   */
  private async locateFailingRow(
    stream: SourceStream,
    server: ServerInfo,
    after: (string | null)[] | undefined,
    limit: number,
    signal?: AbortSignal,
  ): Promise<(string | null)[] | undefined> {
    return this.withClient(async (client) => {
      await client.query(`SET search_path = ${this.searchPath().map(quoteIdent).join(", ")}`);
      const keyRows = await queryWithSignal<Record<string, string | null>>(
        client,
        buildKeySelect(stream, limit, after !== undefined),
        after ?? [],
        signal,
      );
      let candidates = keyRows.rows.map((row) => stream.keyIndexes.map((_, i) => row[`k${i}`] ?? null));
      const fails = async (keys: (string | null)[][]): Promise<boolean> => {
        try {
          await this.existing(client, stream, server, keys, signal);
          return false;
        } catch (error) {
          if (!isRowError(error)) throw error;
          return true;
        }
      };
      if (candidates.length === 0 || !(await fails(candidates))) return undefined;
      while (candidates.length > 1) {
        const half = candidates.slice(0, Math.ceil(candidates.length / 2));
        candidates = (await fails(half)) ? half : candidates.slice(half.length);
      }
      return candidates[0];
    }, signal);
  }

  private async withClient<T>(work: (client: PgClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const client = await this.connections.connect(signal);
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** SQLSTATE class 22 (data exception) or a RAISE from a function: the failure is in one row's values. */
function isRowError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("22") || code === "P0001");
}

function wrapReadError(error: unknown, stream: SourceStream): SourceError {
  if (error instanceof SourceError) return error;
  const err = error as { code?: string; message?: string };
  return new SourceError(`read failed: ${err.message ?? String(error)}`, {
    table: stream.id,
    retryable: isConnectionLost(error),
    cause: error,
    ...(typeof err.code === "string" && /^[0-9A-Z]{5}$/.test(err.code) ? { sqlState: err.code } : {}),
  });
}
