import type { Client } from "@elastic/elasticsearch";
import { errors } from "@elastic/elasticsearch";
import { hostname } from "node:os";
import { LockHeldError } from "../errors.js";
import { describeEsError } from "../sink/es-client.js";
import type { Logger } from "../observability/logger.js";
import { ensureStateIndex, STATE_INDEX } from "./state-store.js";

/** A lock whose holder stopped heartbeating for this long may be taken over. */
export const LOCK_TTL_MS = 30_000;

interface LockDocument {
  lock: string;
  host: string;
  pid: number;
  since: string;
  heartbeat_at: string;
}

export interface HeldLock {
  /** Stops the heartbeat and deletes the lock document (only if it is still ours). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** What is locked, as messages name it: "index search-x", "slot pgsearch". */
  what: string;
  logger: Logger;
  ttlMs?: number;
  /** Called when the heartbeat finds the lock taken by someone else. */
  onLost?: (error: Error) => void;
  signal?: AbortSignal | undefined;
}

type Version = { if_seq_no: number; if_primary_term: number };

/**
 * One holder at a time for an index's sync or a slot's follower, kept as a document in the state
 * index. Every write is conditional (`if_seq_no`/`if_primary_term`), so two processes cannot both
 * win; the holder heartbeats every third of the TTL, and a lock not heartbeaten for the TTL, or
 * held by a dead process of this host, is taken over.
 */
export async function acquireLock(client: Client, name: string, options: LockOptions): Promise<HeldLock> {
  const id = `lock:${name}`;
  const ttl = options.ttlMs ?? LOCK_TTL_MS;
  const mine: LockDocument = {
    lock: name,
    host: hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    heartbeat_at: new Date().toISOString(),
  };
  let version: Version;
  try {
    await ensureStateIndex(client, options.signal);
    version = await whileShardsStart(() => take(client, id, mine, ttl, options), options.signal);
  } catch (error) {
    if (error instanceof LockHeldError) throw error;
    throw describeEsError(error, `cannot take the lock of ${options.what}`);
  }
  let lost = false;
  const timer = setInterval(() => {
    mine.heartbeat_at = new Date().toISOString();
    client
      .index({ index: STATE_INDEX, id, document: mine, ...version })
      .then((r) => {
        version = versionOf(r);
      })
      .catch((error: unknown) => {
        if (!isConflict(error)) {
          options.logger.warn({ err: error, lock: name }, "could not heartbeat the lock; retrying");
          return;
        }
        lost = true;
        clearInterval(timer);
        options.onLost?.(new Error(`the lock of ${options.what} was taken over by another process`));
      });
  }, ttl / 3);
  timer.unref();
  return {
    release: async () => {
      clearInterval(timer);
      if (lost) return;
      await client
        .delete({ index: STATE_INDEX, id, ...version }, { ignore: [404, 409] })
        .catch(() => undefined);
    },
  };
}

/**
 * Retries while the state index's shard is not started yet (503 "no shard available"): seen on
 * OpenSearch right after the index was created by a concurrent writer, although health said yellow.
 */
async function whileShardsStart<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const unavailable = error instanceof errors.ResponseError && error.statusCode === 503;
      if (!unavailable || tries >= 30 || signal?.aborted === true) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function take(
  client: Client,
  id: string,
  mine: LockDocument,
  ttl: number,
  options: LockOptions,
): Promise<Version> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await client.get<LockDocument>({ index: STATE_INDEX, id }, { ignore: [404] });
    try {
      const written =
        current.found && current._source !== undefined
          ? await takeOver(client, id, mine, current._source, versionOf(current), ttl, options)
          : await client.index({ index: STATE_INDEX, id, document: mine, op_type: "create", refresh: false });
      return versionOf(written);
    } catch (error) {
      // Someone wrote between our read and our write: read again and decide again.
      if (!isConflict(error)) throw error;
    }
  }
  const holder = (await client.get<LockDocument>({ index: STATE_INDEX, id }, { ignore: [404] }))._source;
  throw new LockHeldError(options.what, holder ?? { host: "unknown", pid: 0, since: "unknown" });
}

async function takeOver(
  client: Client,
  id: string,
  mine: LockDocument,
  holder: LockDocument,
  version: Version,
  ttl: number,
  options: LockOptions,
): ReturnType<Client["index"]> {
  const silentFor = Date.now() - Date.parse(holder.heartbeat_at);
  const deadHere = holder.host === mine.host && holder.pid !== mine.pid && !processAlive(holder.pid);
  if (!(silentFor > ttl || deadHere)) throw new LockHeldError(options.what, holder);
  options.logger.warn(
    { lock: mine.lock, holder_host: holder.host, holder_pid: holder.pid },
    `taking over the lock of ${options.what} from ${holder.host}/${holder.pid} (${deadHere ? "process gone" : `no heartbeat for ${Math.round(silentFor / 1000)} s`})`,
  );
  return client.index({
    index: STATE_INDEX,
    id,
    document: mine,
    ...version,
  });
}

function versionOf(written: { _seq_no?: number; _primary_term?: number }): Version {
  return { if_seq_no: written._seq_no ?? 0, if_primary_term: written._primary_term ?? 1 };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isConflict(error: unknown): boolean {
  return error instanceof errors.ResponseError && error.statusCode === 409;
}
