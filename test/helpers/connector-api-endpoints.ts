/**
 * The Connector API endpoints the emulator answers, each as Elasticsearch implements it in the
 * ent-search plugin (x-pack/plugin/ent-search/src/main/java/org/elasticsearch/xpack/application/
 * connector/): the Java class and method are named per endpoint. State lives in the real
 * cluster's `.elastic-connectors*` indices, written with the real client, never through
 * pgsearch's own protocol code.
 */
import type { Client } from "@elastic/elasticsearch";
import { randomBytes } from "node:crypto";
import { defaultFiltering, defaultScheduling } from "../../src/service/connector-defaults.js";

export const CONNECTORS = ".elastic-connectors";
export const SYNC_JOBS = ".elastic-connectors-sync-jobs";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    reason: string,
  ) {
    super(reason);
  }
}

export interface ApiRequest {
  method: string;
  parts: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
}

type Doc = Record<string, unknown>;

/** Reads and writes that pass every document through `check` (the parser-derived validator). */
export interface Store {
  get(index: string, id: string): Promise<Doc | undefined>;
  update(index: string, id: string, partial: Doc): Promise<void>;
  index(index: string, id: string | undefined, doc: Doc): Promise<string>;
  search(
    index: string,
    query: Doc,
    size: number,
    sort?: Record<string, "asc" | "desc">[],
  ): Promise<{ id: string; doc: Doc }[]>;
}

const now = (): string => new Date().toISOString();

async function connectorOr404(store: Store, id: string, includeDeleted = false): Promise<Doc> {
  const doc = await store.get(CONNECTORS, id);
  // ConnectorIndexService.getConnector: a soft-deleted connector is not found.
  if (doc === undefined || (!includeDeleted && doc.deleted === true))
    throw new ApiError(404, "resource_not_found_exception", `connector [${id}] not found`);
  return doc;
}

async function jobOr404(store: Store, id: string): Promise<Doc> {
  const doc = await store.get(SYNC_JOBS, id);
  if (doc === undefined)
    throw new ApiError(404, "resource_not_found_exception", `connector sync job [${id}] not found`);
  return doc;
}

type Filtering = { active: Doc; draft: Doc & { validation?: { state?: string } } } & Doc;

/** One endpoint: method, path pattern (`:id` matches one segment), handler. */
interface Endpoint {
  method: string;
  path: string;
  handle(store: Store, req: ApiRequest, params: Record<string, string>): Promise<unknown>;
}

export const ENDPOINTS: Endpoint[] = [
  {
    // RestListConnectorAction → ConnectorIndexService.listConnectors (sorted by index_name, deleted excluded)
    method: "GET",
    path: "/_connector",
    async handle(store, req) {
      const size = Number(req.query.get("size") ?? 100);
      const results = await store.search(
        CONNECTORS,
        { bool: { must_not: { term: { deleted: true } } } },
        size,
        [{ index_name: "asc" }],
      );
      return { count: results.length, results: results.map((r) => ({ id: r.id, ...r.doc })) };
    },
  },
  {
    // RestPutConnectorAction → TransportPutConnectorAction / ConnectorIndexService.createConnector:
    // defaults (empty configuration, default filtering and scheduling, status created), 400 when
    // another connector uses the index name.
    method: "PUT",
    path: "/_connector/:id",
    async handle(store, req, { id = "" }) {
      const indexName = req.body.index_name as string | undefined;
      if (indexName != null) {
        const users = await store.search(CONNECTORS, { term: { index_name: indexName } }, 10);
        if (users.some((u) => u.id !== id && u.doc.deleted !== true))
          throw new ApiError(
            400,
            "status_exception",
            `Index name [${indexName}] is used by another connector.`,
          );
      }
      const isNative = req.body.is_native === true;
      await store.index(CONNECTORS, id, {
        configuration: {},
        custom_scheduling: {},
        ...(req.body.description == null ? {} : { description: req.body.description }),
        filtering: [defaultFiltering()],
        ...(indexName == null ? {} : { index_name: indexName }),
        is_native: isNative,
        ...(req.body.language == null ? {} : { language: req.body.language }),
        name: req.body.name ?? "",
        scheduling: defaultScheduling(),
        ...(req.body.service_type == null ? {} : { service_type: req.body.service_type }),
        status: isNative ? "needs_configuration" : "created",
        sync_now: false,
        deleted: false,
      });
      return { result: "created", id };
    },
  },
  {
    // RestGetConnectorAction → ConnectorIndexService.getConnector
    method: "GET",
    path: "/_connector/:id",
    async handle(store, req, { id = "" }) {
      return { id, ...(await connectorOr404(store, id, req.query.get("include_deleted") === "true")) };
    },
  },
  {
    // RestUpdateConnectorLastSeenAction → ConnectorIndexService.checkInConnector: last_seen = now
    method: "PUT",
    path: "/_connector/:id/_check_in",
    async handle(store, _req, { id = "" }) {
      await connectorOr404(store, id);
      await store.update(CONNECTORS, id, { last_seen: now() });
      return { result: "updated" };
    },
  },
  {
    // RestUpdateConnectorPipelineAction → ConnectorIndexService.updateConnectorPipeline (all four keys required)
    method: "PUT",
    path: "/_connector/:id/_pipeline",
    async handle(store, req, { id = "" }) {
      await connectorOr404(store, id);
      const pipeline = req.body.pipeline as Doc | undefined;
      for (const key of ["extract_binary_content", "name", "reduce_whitespace", "run_ml_inference"])
        if (pipeline?.[key] === undefined)
          throw new ApiError(
            400,
            "x_content_parse_exception",
            `[connector_ingest_pipeline] failed to parse field [${key}]`,
          );
      await store.update(CONNECTORS, id, { pipeline });
      return { result: "updated" };
    },
  },
  {
    // RestUpdateConnectorFilteringValidationAction → ConnectorIndexService.updateConnectorFilteringValidation:
    // the DEFAULT filtering's draft validation
    method: "PUT",
    path: "/_connector/:id/_filtering/_validation",
    async handle(store, req, { id = "" }) {
      const doc = await connectorOr404(store, id);
      const [first, ...rest] = (doc.filtering as Filtering[] | undefined) ?? [];
      if (first === undefined)
        throw new ApiError(404, "resource_not_found_exception", `connector [${id}] has no filtering`);
      const draft = { ...first.draft, validation: req.body.validation };
      await store.update(CONNECTORS, id, { filtering: [{ ...first, draft }, ...rest] });
      return { result: "updated" };
    },
  },
  {
    // RestUpdateConnectorActiveFilteringAction → ConnectorIndexService.activateConnectorDraftFiltering:
    // 400 unless the draft's validation state is valid; then active = draft
    method: "PUT",
    path: "/_connector/:id/_filtering/_activate",
    async handle(store, _req, { id = "" }) {
      const doc = await connectorOr404(store, id);
      const [first, ...rest] = (doc.filtering as Filtering[] | undefined) ?? [];
      if (first?.draft.validation?.state !== "valid")
        throw new ApiError(
          400,
          "status_exception",
          "Filtering draft needs to be validated by the connector service before activation.",
        );
      await store.update(CONNECTORS, id, { filtering: [{ ...first, active: { ...first.draft } }, ...rest] });
      return { result: "updated" };
    },
  },
  {
    // RestPostConnectorSyncJobAction → ConnectorSyncJobIndexService.createConnectorSyncJob: a
    // snapshot of the connector (active filtering, index, language, pipeline, type, configuration),
    // status pending, counts 0, created_at = last_seen = now; 404 for a missing connector.
    method: "POST",
    path: "/_connector/_sync_job",
    async handle(store, req) {
      const connectorId = String(req.body.id);
      const c = await connectorOr404(store, connectorId);
      const filtering = (c.filtering as Filtering[] | undefined)?.[0]?.active ?? null;
      const created = now();
      const id = await store.index(SYNC_JOBS, randomBytes(15).toString("base64url"), {
        connector: {
          id: connectorId,
          filtering,
          index_name: c.index_name ?? null,
          language: c.language ?? null,
          pipeline: c.pipeline ?? null,
          service_type: c.service_type ?? null,
          configuration: c.configuration ?? {},
        },
        created_at: created,
        deleted_document_count: 0,
        indexed_document_count: 0,
        indexed_document_volume: 0,
        job_type: req.body.job_type ?? "full",
        last_seen: created,
        metadata: {},
        status: "pending",
        total_document_count: 0,
        trigger_method: req.body.trigger_method ?? "on_demand",
      });
      return { id };
    },
  },
  {
    // RestListConnectorSyncJobsAction → ConnectorSyncJobIndexService.listConnectorSyncJobs (newest first)
    method: "GET",
    path: "/_connector/_sync_job",
    async handle(store, req) {
      const connectorId = req.query.get("connector_id");
      const filters: Doc[] = [];
      if (connectorId !== null) filters.push({ term: { "connector.id": connectorId } });
      const status = req.query.get("status");
      if (status !== null) filters.push({ term: { status } });
      const size = Number(req.query.get("size") ?? 100);
      const results = await store.search(SYNC_JOBS, { bool: { filter: filters } }, size, [
        { created_at: "desc" },
      ]);
      return { count: results.length, results: results.map((r) => ({ id: r.id, ...r.doc })) };
    },
  },
  {
    // RestGetConnectorSyncJobAction → ConnectorSyncJobIndexService.getConnectorSyncJob
    method: "GET",
    path: "/_connector/_sync_job/:id",
    async handle(store, _req, { id = "" }) {
      return { id, ...(await jobOr404(store, id)) };
    },
  },
  {
    // RestCancelConnectorSyncJobAction → ConnectorSyncJobIndexService.cancelConnectorSyncJob:
    // status canceling, cancelation_requested_at = now
    method: "PUT",
    path: "/_connector/_sync_job/:id/_cancel",
    async handle(store, _req, { id = "" }) {
      await jobOr404(store, id);
      await store.update(SYNC_JOBS, id, { status: "canceling", cancelation_requested_at: now() });
      return { result: "updated" };
    },
  },
  {
    // RestClaimConnectorSyncJobAction → ConnectorSyncJobIndexService.claimConnectorSyncJob: 404 for
    // a missing job, otherwise overwrites worker_hostname, status, last_seen, started_at (and
    // connector.sync_cursor) with no check of the job's status and no version condition.
    method: "PUT",
    path: "/_connector/_sync_job/:id/_claim",
    async handle(store, req, { id = "" }) {
      await jobOr404(store, id);
      const at = now();
      await store.update(SYNC_JOBS, id, {
        worker_hostname: req.body.worker_hostname,
        status: "in_progress",
        last_seen: at,
        started_at: at,
        ...(req.body.sync_cursor == null ? {} : { connector: { sync_cursor: req.body.sync_cursor } }),
      });
      return { result: "updated" };
    },
  },
  {
    // RestUpdateConnectorSyncJobIngestionStatsAction → ConnectorSyncJobIndexService.updateConnectorSyncJobIngestionStats:
    // the three counts are required; last_seen defaults to now; total_document_count and metadata optional
    method: "PUT",
    path: "/_connector/_sync_job/:id/_stats",
    async handle(store, req, { id = "" }) {
      await jobOr404(store, id);
      for (const key of ["deleted_document_count", "indexed_document_count", "indexed_document_volume"])
        if (typeof req.body[key] !== "number")
          throw new ApiError(
            400,
            "action_request_validation_exception",
            `Validation Failed: 1: [${key}] cannot be null.;`,
          );
      const { deleted_document_count, indexed_document_count, indexed_document_volume } = req.body;
      await store.update(SYNC_JOBS, id, {
        deleted_document_count,
        indexed_document_count,
        indexed_document_volume,
        last_seen: req.body.last_seen ?? now(),
        ...(req.body.total_document_count == null
          ? {}
          : { total_document_count: req.body.total_document_count }),
        ...(req.body.metadata == null ? {} : { metadata: req.body.metadata }),
      });
      return { result: "updated" };
    },
  },
];

/** Literal path segments by position: a parameter never takes one of them. */
const LITERAL_SEGMENTS: Set<string>[] = [];
for (const endpoint of ENDPOINTS) {
  endpoint.path
    .split("/")
    .filter((p) => p !== "")
    .forEach((segment, i) => {
      if (!segment.startsWith(":")) (LITERAL_SEGMENTS[i] ??= new Set()).add(segment);
    });
}

/**
 * The endpoint and path parameters for a request. As in Elasticsearch's path trie, a literal
 * segment wins over a parameter at the same position (`_sync_job` is never a connector id), and
 * nothing else is refused: an auto-generated job id may start with `_` (1 in 64 do).
 */
export function route(
  method: string,
  parts: string[],
): { endpoint: Endpoint; params: Record<string, string> } | undefined {
  for (const endpoint of ENDPOINTS) {
    if (endpoint.method !== method) continue;
    const pattern = endpoint.path.split("/").filter((p) => p !== "");
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((segment, i) => {
      const part = parts[i] ?? "";
      if (!segment.startsWith(":")) return segment === part;
      if (LITERAL_SEGMENTS[i]?.has(part) === true) return false;
      params[segment.slice(1)] = part;
      return true;
    });
    if (matches) return { endpoint, params };
  }
  return undefined;
}

/** A store over the real cluster that runs `check` on every document it reads or writes. */
export function checkedStore(
  client: Client,
  check: (index: string, id: string, doc: Doc, fromSearch?: boolean) => void,
): Store {
  return {
    async get(index, id) {
      const found = await client.get<Doc>({ index, id }, { ignore: [404] });
      if (!found.found || found._source === undefined) return undefined;
      check(index, id, found._source);
      return found._source;
    },
    async update(index, id, partial) {
      await client.update({ index, id, doc: partial, refresh: true, retry_on_conflict: 10 });
      await this.get(index, id);
    },
    async index(index, id, doc) {
      check(index, id ?? "(new)", doc);
      const result = await client.index({
        index,
        ...(id === undefined ? {} : { id }),
        document: doc,
        refresh: true,
      });
      return result._id;
    },
    async search(index, query, size, sort) {
      const result = await client.search<Doc>(
        { index, query, size, ...(sort === undefined ? {} : { sort }), expand_wildcards: "all" },
        { ignore: [404] },
      );
      // A 404 (no index yet) answers an error body without hits.
      const hits = (result as Partial<typeof result>).hits?.hits ?? [];
      return hits.map((hit) => {
        const doc = hit._source ?? {};
        check(index, hit._id ?? "", doc, true);
        return { id: hit._id ?? "", doc };
      });
    },
  };
}
