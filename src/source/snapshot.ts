import type { ConnectionFactory, PgClient } from "./connection.js";
import { queryWithSignal } from "./connection.js";
import { quoteIdent, quoteLiteral } from "./sql.js";

/**
 * One consistent view of the database for a whole sync. The coordinator connection exports a
 * snapshot and keeps its transaction open; every reader imports it, so parallel tables, retried
 * reads and the delete pass all see the same data.
 */
export class SyncSnapshot {
  private constructor(
    private readonly factory: ConnectionFactory,
    private readonly coordinator: PgClient,
    /** null when the server cannot export snapshots (then each reader takes its own). */
    readonly snapshotId: string | null,
    private readonly searchPath: string[],
    /** The server's clock when the snapshot's transaction began (ISO-8601): incremental cursors use it. */
    readonly startedAt: string,
  ) {}

  static async open(
    factory: ConnectionFactory,
    searchPath: string[],
    signal?: AbortSignal,
  ): Promise<SyncSnapshot> {
    const coordinator = await factory.connect(signal);
    try {
      await queryWithSignal(coordinator, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [], signal);
      const clock = await queryWithSignal<{ now: string }>(
        coordinator,
        "SELECT to_json(now())#>>'{}' AS now",
        [],
        signal,
      );
      const startedAt = clock.rows[0]?.now ?? new Date().toISOString();
      let snapshotId: string | null = null;
      try {
        const result = await queryWithSignal<{ id: string }>(
          coordinator,
          "SELECT pg_export_snapshot() AS id",
          [],
          signal,
        );
        snapshotId = result.rows[0]?.id ?? null;
      } catch {
        // Hot standbys before PostgreSQL 10 and some poolers refuse; readers then use their own snapshots.
        await coordinator.query("ROLLBACK");
        await coordinator.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      }
      const snapshot = new SyncSnapshot(factory, coordinator, snapshotId, searchPath, startedAt);
      coordinator.on("end", () => {
        snapshot.coordinatorLost = true;
      });
      return snapshot;
    } catch (error) {
      await coordinator.end().catch(() => undefined);
      throw error;
    }
  }

  /** Whether the exported snapshot is still usable (its coordinator connection is alive). */
  get alive(): boolean {
    return this.snapshotId !== null && !this.coordinatorLost;
  }
  coordinatorLost = false;

  /** A connection inside a READ ONLY transaction on this snapshot. Release it with `release`. */
  async reader(signal?: AbortSignal): Promise<PgClient> {
    const client = await this.factory.connect(signal);
    try {
      await queryWithSignal(client, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [], signal);
      if (this.snapshotId !== null && !this.coordinatorLost) {
        try {
          await queryWithSignal(
            client,
            `SET TRANSACTION SNAPSHOT ${quoteLiteral(this.snapshotId)}`,
            [],
            signal,
          );
        } catch {
          // The exporting transaction ended (its connection dropped): continue on a fresh snapshot.
          this.coordinatorLost = true;
          await client.query("ROLLBACK");
          await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        }
      }
      if (this.searchPath.length > 0) {
        await queryWithSignal(
          client,
          `SET LOCAL search_path = ${this.searchPath.map(quoteIdent).join(", ")}`,
          [],
          signal,
        );
      }
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async release(client: PgClient): Promise<void> {
    await client.query("COMMIT").catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.coordinator.query("COMMIT").catch(() => undefined);
    await this.coordinator.end().catch(() => undefined);
  }
}
