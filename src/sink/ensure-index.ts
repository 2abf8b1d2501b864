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
  await waitUntilWritable(client, name, signal);
  return created;
}

/**
 * Waits for the index's primary shards to start. A health call answers `timed_out` (not an error)
 * when its wait runs out: a loaded machine recovering a new index takes longer than one wait, and
 * reading it before then fails with "no shard available".
 */
async function waitUntilWritable(client: Client, name: string, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const health = await client.cluster.health(
      { index: name, wait_for_status: "yellow", timeout: "30s" },
      { signal },
    );
    if (!health.timed_out) return;
    if (attempt === 4) throw new Error(`index ${name} has no started primary shard after 2 minutes`);
  }
}

/** Settings of pgsearch's own small bookkeeping indices. */
export const HIDDEN_SMALL_INDEX = { "index.hidden": true, number_of_shards: 1, auto_expand_replicas: "0-1" };
