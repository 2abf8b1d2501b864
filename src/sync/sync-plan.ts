import { createHash } from "node:crypto";
import { ConfigError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import { pushDownBasicRules, type PushedFilter } from "../rules/pushdown.js";
import type { SearchIndex } from "../sink/search-index.js";
import { typedMappings } from "../sink/typed-mappings.js";
import { columnRef, type SourcePlan, type SourceStream } from "../source/plan.js";
import { type Collision, fieldCollisions } from "./collisions.js";
import type { SyncState } from "./state-store.js";
import type { SyncDependencies, SyncRequest } from "./sync-types.js";

/** What a sync will do, decided before the snapshot is taken. */
export interface PlannedSync {
  plan: SourcePlan;
  resumed: boolean;
  /** Incremental syncs: rows committed since then. */
  changedSince: string | undefined;
  indexWasEmpty: boolean;
  skipUnchanged: boolean;
  warnings: string[];
  collisions: Collision[];
  /** The state document this sync keeps up to date (checkpoints, then the result). */
  state: SyncState;
  /** Resumed streams' checkpoints (empty when starting over). */
  checkpoints: SyncState["streams"];
}

export async function planSync(
  deps: SyncDependencies,
  request: SyncRequest,
  index: SearchIndex,
  log: Logger,
  startedAt: string,
): Promise<PlannedSync> {
  const { source } = deps;
  const signal = request.signal;
  const plan = await source.plan(request.advancedRules, signal);
  // Basic rules that translate exactly run in PostgreSQL: excluded rows are never read.
  for (const stream of plan.streams) stream.filter = pushDownRules(stream, request.basicRules);
  for (const skipped of plan.skipped) {
    log.warn({ table: skipped.table }, `skipping table ${skipped.table}: ${skipped.reason}`);
  }
  const compat = source.config.documentMode === "compat";
  const collisions = plan.streams.flatMap((stream) => fieldCollisions(stream, compat));
  for (const c of collisions) log.warn({ table: c.stream, field: c.target }, c.message);
  // Typed mappings: on a new index for every column, on an existing one for unmapped fields.
  await index.ensure({
    ...(request.options.mappings === "typed" ? { properties: typedMappings(plan.streams, compat) } : {}),
    ...(signal === undefined ? {} : { signal }),
  });
  const indexWasEmpty = (await index.count(undefined, signal)) === 0;
  assertSelectsSomething(plan, indexWasEmpty ? 0 : 1, request.indexName, request.advancedRules.length > 0);

  const fingerprint = planFingerprint(plan.streams, request);
  const previous = await deps.state.load(request.indexName, signal);
  const resumed =
    (request.resume ?? true) &&
    previous !== undefined &&
    (previous.status === "running" || previous.status === "interrupted") &&
    previous.fingerprint === fingerprint &&
    previous.job_type === request.jobType;
  if (resumed)
    log.info({ started_at: previous.started_at }, "resuming the interrupted sync from its checkpoints");
  const warnings: string[] = [];
  const changedSince = incrementalSince(request, plan, previous, warnings);
  for (const w of warnings) log.warn({}, w);
  const state: SyncState = {
    index_name: request.indexName,
    status: "running",
    job_type: request.jobType,
    fingerprint,
    started_at: resumed ? previous.started_at : startedAt,
    updated_at: startedAt,
    streams: resumed ? previous.streams : {},
    cursor: previous?.cursor,
    // The oldest snapshot any checkpointed row was read in: catch-up reads changes since then.
    read_since: resumed ? (previous.read_since ?? previous.started_at) : undefined,
  };
  return {
    plan,
    resumed,
    changedSince,
    indexWasEmpty,
    skipUnchanged: request.options.skipUnchanged && !indexWasEmpty,
    warnings,
    collisions,
    state,
    checkpoints: resumed ? previous.streams : {},
  };
}

/**
 * Reading nothing would make the delete pass empty the index: a plan of zero streams for an index
 * that has documents is a configuration mistake (exit 2), at `validate` and at `sync`.
 */
export function assertSelectsSomething(
  plan: SourcePlan,
  indexDocuments: number,
  indexName: string,
  advanced: boolean,
): void {
  if (plan.streams.length > 0 || indexDocuments === 0) return;
  throw new ConfigError(
    advanced ? "sync_rules.advanced" : "tables",
    `the configuration selects no table to sync, but index ${indexName} has documents; ` +
      `nothing was deleted (check schemas and tables)`,
  );
}

/** Incremental: rows committed since the previous completed sync's snapshot started. */
function incrementalSince(
  request: SyncRequest,
  plan: SourcePlan,
  previous: SyncState | undefined,
  warnings: string[],
): string | undefined {
  if (request.jobType !== "incremental") return undefined;
  const cursor = (request.cursor ?? previous?.cursor)?.snapshot_started_at;
  if (!plan.server.commitTimestamps) {
    warnings.push(
      "track_commit_timestamp is off: the incremental sync reads every row (as a full sync would)",
    );
    return undefined;
  }
  if (cursor === undefined) {
    warnings.push("no previous sync cursor: the incremental sync reads every row this time");
    return undefined;
  }
  return cursor;
}

function pushDownRules(stream: SourceStream, rules: BasicRuleEngine): PushedFilter | undefined {
  if (rules.isMatchAll) return undefined;
  const columns = stream.columns.map((column, i) => ({
    field: stream.fieldNames[i] ?? `\u0000unused${i}`,
    ref: columnRef(stream, i),
    typeName: column.typeName,
    typeKind: column.typeKind,
    isArray: column.isArray,
  }));
  return pushDownBasicRules(rules.rules, columns);
}

function planFingerprint(streams: SourceStream[], request: SyncRequest): string {
  const hash = createHash("sha256");
  for (const s of streams) hash.update(JSON.stringify([s.id, s.fromSql, s.fieldNames, s.keyIndexes]));
  hash.update(JSON.stringify(request.advancedRules));
  return hash.digest("hex").slice(0, 32);
}
