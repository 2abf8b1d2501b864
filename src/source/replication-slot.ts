import { SourceError } from "../errors.js";
import type { PgClient } from "./connection.js";
import type { SourcePlan } from "./plan.js";
import { quoteIdent, quoteLiteral } from "./sql.js";

export interface SlotNames {
  /** Replication slot name (letters, digits, underscores). */
  slotName: string;
  /** Publication the slot streams. */
  publication: string;
}

/** The tables whose changes a plan needs: its tables and the tables its advanced rules read. */
export function followedTables(plan: SourcePlan): string[] {
  return [
    ...new Set([
      ...plan.streams.filter((s) => s.kind === "table").map((s) => s.fromSql),
      ...plan.streams.flatMap((s) => (s.parts ?? []).map((p) => p.tableSql)),
    ]),
  ];
}

/**
 * Creates the publication and the logical slot (pgoutput) when missing. Create it before the
 * initial full sync's snapshot, so no change between the two is missed. "exists" means the slot
 * kept its position: following can stream at once, without reading everything again.
 */
export async function ensureSlot(
  plan: SourcePlan,
  names: SlotNames,
  admin: PgClient,
): Promise<"created" | "exists"> {
  const tables = followedTables(plan);
  if (tables.length === 0) {
    throw new SourceError(
      "nothing to follow: no table, and no advanced rule whose tables' primary keys are in its result",
    );
  }
  const publication = await admin.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [
    names.publication,
  ]);
  if (publication.rowCount === 0) {
    await assertPublishable(plan, tables, admin);
    // publish_via_partition_root: changes of partitions arrive as their parent (PostgreSQL 13+).
    const viaRoot = plan.server.versionNum >= 130000 ? " WITH (publish_via_partition_root = true)" : "";
    await admin.query(
      `CREATE PUBLICATION ${quoteIdent(names.publication)} FOR TABLE ${tables.join(", ")}${viaRoot}`,
    );
  }
  const slot = await admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [names.slotName]);
  if (slot.rowCount === 0) {
    await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [names.slotName]);
    return "created";
  }
  return "exists";
}

/**
 * PostgreSQL 12 cannot publish a partitioned table (only its partitions, and then their changes
 * arrive under the partitions' names, not the table the documents come from): say so.
 */
async function assertPublishable(plan: SourcePlan, tables: string[], admin: PgClient): Promise<void> {
  if (plan.server.versionNum >= 130000) return;
  const partitioned = await admin.query<{ name: string }>(
    "SELECT oid::regclass::text AS name FROM pg_class WHERE oid = ANY($1::regclass[]) AND relkind = 'p'",
    [tables],
  );
  if (partitioned.rows.length === 0) return;
  throw new SourceError(
    `cannot follow the partitioned table(s) ${partitioned.rows.map((r) => r.name).join(", ")} on PostgreSQL ${plan.server.version}: publishing a partitioned table needs PostgreSQL 13 or later; use document_mode compat (each partition is its own table) or PostgreSQL 13+`,
  );
}

/** Drops the slot (and the publication, when it is ours): `pgsearch slot drop`. */
export async function dropSlot(admin: PgClient, slotName: string, publication?: string): Promise<boolean> {
  const result = await admin.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
    [slotName],
  );
  if (publication !== undefined) await admin.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(publication)}`);
  return (result.rowCount ?? 0) > 0;
}

/** WAL the slot retains (bytes) and whether a walsender streams it now, for warnings and metrics. */
export async function slotRetainedWal(
  admin: PgClient,
  slotName: string,
): Promise<{ retainedBytes: number; active: boolean } | undefined> {
  const result = await admin.query<{ retained: string; active: boolean }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS retained, active
     FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slotName)}`,
  );
  const row = result.rows[0];
  return row === undefined ? undefined : { retainedBytes: Number(row.retained), active: row.active };
}
