import type { Client } from "@elastic/elasticsearch";
import { HIDDEN_SMALL_INDEX, ensureIndex } from "../sink/ensure-index.js";
import { describeEsError } from "../sink/es-client.js";

/** Where standalone syncs keep checkpoints and cursors, one document per content index. */
export const STATE_INDEX = "pgsearch-state";

export interface StreamCheckpoint {
  /** The stream was read to the end and every document acknowledged. */
  done: boolean;
  /** JSON of the last acknowledged key; reading resumes after it. */
  after: string | null;
  rows: number;
}

export interface SyncState {
  index_name: string;
  status: "running" | "interrupted" | "failed" | "completed";
  job_type: "full" | "incremental";
  /** Identifies what was being synced; a checkpoint is only reused for the same plan. */
  fingerprint: string;
  started_at: string;
  updated_at: string;
  streams: Record<string, StreamCheckpoint>;
  /** Start of the last completed sync's snapshot: the next incremental sync reads changes since then. */
  cursor?: { snapshot_started_at: string; job_type: string } | undefined;
  last_result?: Record<string, unknown> | undefined;
  /**
   * Server time when the oldest snapshot that checkpointed rows were read in started: a resumed
   * sync re-reads rows of the already-read range changed since then (issue 10.3).
   */
  read_since?: string | undefined;
}

export interface StateStore {
  load(indexName: string, signal?: AbortSignal): Promise<SyncState | undefined>;
  save(state: SyncState, signal?: AbortSignal): Promise<void>;
}

/** Keeps state in a hidden Elasticsearch index next to the content, so no local disk is needed. */
export class ElasticsearchStateStore implements StateStore {
  private ensured = false;
  constructor(private readonly client: Client) {}

  private async ensure(signal?: AbortSignal): Promise<void> {
    if (this.ensured) return;
    await ensureStateIndex(this.client, signal);
    this.ensured = true;
  }

  async load(indexName: string, signal?: AbortSignal): Promise<SyncState | undefined> {
    try {
      await this.ensure(signal);
      const result = await this.client.get<SyncState>(
        { index: STATE_INDEX, id: indexName },
        { signal, ignore: [404] },
      );
      return result.found ? result._source : undefined;
    } catch (error) {
      throw describeEsError(error, `cannot read sync state for ${indexName}`);
    }
  }

  async save(state: SyncState, signal?: AbortSignal): Promise<void> {
    try {
      await this.ensure(signal);
      await this.client.index({ index: STATE_INDEX, id: state.index_name, document: state }, { signal });
    } catch (error) {
      throw describeEsError(error, `cannot save sync state for ${state.index_name}`);
    }
  }
}

/** Creates the hidden state index (checkpoints, cursors, locks) when missing. */
export async function ensureStateIndex(client: Client, signal?: AbortSignal): Promise<void> {
  await ensureIndex(
    client,
    STATE_INDEX,
    {
      settings: HIDDEN_SMALL_INDEX,
      mappings: {
        dynamic: false,
        properties: { index_name: { type: "keyword" }, status: { type: "keyword" } },
      },
    },
    signal,
  );
}
