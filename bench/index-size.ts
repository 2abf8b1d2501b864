/**
 * Index size on disk (`_stats/store`) and the share of pgsearch's bookkeeping fields
 * (`_pgsearch.*`, `_timestamp`) in it, from `_disk_usage` (which analyses every field's inverted
 * index, doc values, stored fields and points).
 */
import type { Client } from "@elastic/elasticsearch";
import { engineOf } from "../src/sink/engine.js";

export interface IndexSize {
  index: string;
  docs: number;
  storeMb: number;
  /** Total bytes `_disk_usage` accounts for, and the bookkeeping fields' part of it. */
  analysedMb: number;
  bookkeepingMb: number;
  bookkeepingShare: number;
  fields: Record<string, number>;
}

const BOOKKEEPING = (field: string): boolean => field.startsWith("_pgsearch") || field === "_timestamp";

export async function indexSize(client: Client, index: string): Promise<IndexSize> {
  await client.indices.refresh({ index });
  await client.indices.flush({ index });
  const stats = await client.indices.stats({ index, metric: ["store", "docs"] });
  const total = stats._all.primaries;
  // OpenSearch has no _disk_usage: only the store size is reported there.
  const usage = (
    engineOf(client) === "opensearch"
      ? {}
      : await client.indices.diskUsage({ index, run_expensive_tasks: true })
  ) as Record<string, { store_size_in_bytes: number; fields: Record<string, { total_in_bytes: number }> }>;
  const analysed = usage[index];
  const fields: Record<string, number> = {};
  let bookkeeping = 0;
  for (const [field, f] of Object.entries(analysed?.fields ?? {})) {
    fields[field] = Math.round(f.total_in_bytes / 1024);
    if (BOOKKEEPING(field)) bookkeeping += f.total_in_bytes;
  }
  const analysedBytes = analysed?.store_size_in_bytes ?? 0;
  const mb = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  return {
    index,
    docs: total?.docs?.count ?? 0,
    storeMb: mb(total?.store?.size_in_bytes ?? 0),
    analysedMb: mb(analysedBytes),
    bookkeepingMb: mb(bookkeeping),
    bookkeepingShare: analysedBytes > 0 ? Math.round((bookkeeping / analysedBytes) * 1000) / 1000 : 0,
    fields,
  };
}
