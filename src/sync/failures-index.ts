import type { Client } from "@elastic/elasticsearch";
import { HIDDEN_SMALL_INDEX, ensureIndex } from "../sink/ensure-index.js";
import { describeEsError } from "../sink/es-client.js";
import type { BulkItem, ItemFailure } from "../sink/bulk-writer.js";

/** Where `follow.on_document_error: record` keeps the changes Elasticsearch refused. */
export const FAILURES_INDEX = "pgsearch-failures";

/**
 * Writes refused changes (the document as it was to be written, the reason, the slot position)
 * so nothing is lost silently; an operator re-sends or fixes them from there.
 */
export async function recordFailures(
  client: Client,
  indexName: string,
  lsn: string,
  refused: { item: BulkItem; failure: ItemFailure }[],
  signal?: AbortSignal,
): Promise<void> {
  try {
    await ensureIndex(
      client,
      FAILURES_INDEX,
      {
        settings: HIDDEN_SMALL_INDEX,
        mappings: {
          dynamic: false,
          properties: {
            index_name: { type: "keyword" },
            document_id: { type: "keyword" },
            recorded_at: { type: "date" },
          },
        },
      },
      signal,
    );
    const recordedAt = new Date().toISOString();
    const operations = refused.flatMap(({ item, failure }) => [
      { index: { _index: FAILURES_INDEX } },
      {
        index_name: indexName,
        document_id: failure.id,
        action: failure.action,
        status: failure.status,
        reason: failure.reason,
        lsn,
        recorded_at: recordedAt,
        source: item.source,
      },
    ]);
    const response = await client.bulk({ operations, refresh: "wait_for" }, { signal });
    if (response.errors) throw new Error("the failures index refused them too");
  } catch (error) {
    throw describeEsError(error, `cannot record ${refused.length} refused change(s) in ${FAILURES_INDEX}`);
  }
}
