import type { Client, estypes } from "@elastic/elasticsearch";

/**
 * Creates an index when `name` (an index or alias) does not exist, tolerating another process
 * creating it at the same moment, then waits until its primary shard is active (a new index
 * answers 503 until then). Returns whether this call created it.
 */
export async function ensureIndex(
  client: Client,
  name: string,
  body: Partial<estypes.IndicesCreateRequest>,
  signal?: AbortSignal,
): Promise<boolean> {
  let created = false;
  if (!(await client.indices.exists({ index: name }, { signal }))) {
    try {
      await client.indices.create({ index: body.index ?? name, ...body }, { signal });
      created = true;
    } catch (error) {
      if (
        (error as { body?: { error?: { type?: string } } }).body?.error?.type !==
        "resource_already_exists_exception"
      )
        throw error;
    }
  }
  await client.cluster.health({ index: name, wait_for_status: "yellow", timeout: "30s" }, { signal });
  return created;
}

/** Settings of pgsearch's own small bookkeeping indices. */
export const HIDDEN_SMALL_INDEX = { "index.hidden": true, number_of_shards: 1, auto_expand_replicas: "0-1" };
