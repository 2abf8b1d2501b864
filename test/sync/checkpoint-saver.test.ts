import type { Client as EsClient } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/logger.js";
import { CheckpointSaver } from "../../src/sync/checkpoint-saver.js";
import { CheckpointTracker } from "../../src/sync/checkpoints.js";
import { ElasticsearchStateStore, STATE_INDEX, type SyncState } from "../../src/sync/state-store.js";
import { esClient, uniqueName } from "../helpers/stack.js";

let es: EsClient;
beforeAll(async () => {
  es = await esClient();
});
afterAll(async () => {
  await es.close();
});

function newState(indexName: string): SyncState {
  const now = new Date().toISOString();
  return {
    index_name: indexName,
    status: "running",
    job_type: "full",
    fingerprint: "f",
    started_at: now,
    updated_at: now,
    streams: {},
  };
}

describe("checkpoint saver (issue 10.7)", () => {
  it("a checkpoint timer's late 'running' write never lands after 'completed'", async () => {
    const indexName = uniqueName("saver");
    const store = new ElasticsearchStateStore(es);
    const tracker = new CheckpointTracker();
    tracker.start("s.t", null);
    const saver = new CheckpointSaver(store, newState(indexName), tracker, silentLogger);
    // Many periodic saves in flight when the sync completes, and one more tick after it.
    const inFlight = Array.from({ length: 20 }, () => saver.save("running"));
    const completed = saver.complete((state) => {
      state.streams = {};
    });
    const late = saver.save("running");
    await Promise.all([...inFlight, completed, late]);
    await es.indices.refresh({ index: STATE_INDEX });
    const saved = await store.load(indexName);
    expect(saved?.status).toBe("completed");
    expect(saved?.streams).toEqual({});
  });
});
