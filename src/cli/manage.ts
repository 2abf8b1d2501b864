import type { Command } from "@commander-js/extra-typings";
import { Option } from "@commander-js/extra-typings";
import type { Client } from "@elastic/elasticsearch";
import Table from "cli-table3";
import { PgSearchError } from "../errors.js";
import type { IndexProtocol } from "../service/index-protocol.js";
import type { ConnectorDocument, JobDocument, Versioned } from "../service/protocol.js";

const PLAIN = { head: [], border: [] };

interface Connection {
  client: Client;
  /** The backend the cluster supports (the Connector APIs when present), as the service picks it. */
  protocol: IndexProtocol;
}

/** Runs `work` against the cluster of config.yml through the detected backend, closed afterwards. */
async function withConnection<T>(configPath: string, work: (c: Connection) => Promise<T>): Promise<T> {
  // Imported here, not at the top: `pgsearch --help` should not load the Elasticsearch client.
  const [{ silentLogger }, { chooseProtocol }, { loadServiceConfig }, { connectElasticsearch }] =
    await Promise.all([
      import("../observability/logger.js"),
      import("../service/choose-protocol.js"),
      import("../service/service-config.js"),
      import("../sink/es-client.js"),
    ]);
  const config = loadServiceConfig(configPath, { ...process.env });
  const es = await connectElasticsearch(config.elasticsearch);
  try {
    const protocol = await chooseProtocol(es.client, config.protocol, silentLogger);
    await protocol.prepare();
    return await work({ client: es.client, protocol });
  } finally {
    await es.client.close();
  }
}

/** Wraps an action so a failure sets the exit code through the CLI's error report. */
type Run = <A extends unknown[]>(work: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;

const configOption = () =>
  new Option("-c, --config <file>", "connector service config.yml").default("config.yml");
const outputOption = () =>
  new Option("-o, --output <format>", "output format")
    .choices(["text", "json"] as const)
    .default("text" as const);

/**
 * The management commands of Elastic's `connectors` CLI (`connector list|create`,
 * `index list|clean|delete`, `job list|cancel|start|view`, their short flags), over the same
 * documents the service reads and through the same backend. pgsearch's earlier names stay as
 * aliases (`job show`, `connector show`). Commands taking a connector or job id allow unknown
 * options: Elasticsearch makes ids of base64url, so 1 in 64 starts with "-" and must be taken as
 * the id (a mistyped option still fails, as one argument too many).
 */
export function addManagementCommands(program: Command, report: (error: unknown) => number): void {
  const run: Run =
    (work) =>
    async (...args) => {
      try {
        await work(...args);
      } catch (error) {
        process.exitCode = report(error);
      }
    };
  addConnectorCommands(program, run);
  addIndexCommands(program, run);
  addJobCommands(program, run);
}

function addConnectorCommands(program: Command, run: Run): void {
  const connector = program.command("connector").description("manage connectors (as Kibana does)");
  connector
    .command("create")
    .description("create a connector document, as PUT _connector/<id> and Kibana do")
    .addOption(configOption())
    .requiredOption("--id <id>", "connector id (used in config.yml connectors[].connector_id)")
    .requiredOption("-i, --index-name <name>", "content index")
    .option("-n, --name <name>", "display name")
    .option("-s, --service-type <type>", "service type", "postgresql")
    .option(
      "--create-api-key",
      "create an API key with the reference's role descriptors (needs security enabled)",
    )
    .action(run(createConnector));
  connector
    .command("list")
    .description("list the connectors: id, name, index, status, last sync")
    .addOption(configOption())
    .action(
      run(async (opts: { config: string }) => {
        await withConnection(opts.config, async ({ protocol }) => {
          const table = new Table({
            head: ["id", "name", "index", "status", "last sync", "last synced"],
            style: PLAIN,
          });
          for (const { id, doc } of await protocol.listConnectors())
            table.push([
              id,
              doc.name ?? "",
              doc.index_name ?? "",
              doc.status ?? "",
              doc.last_sync_status ?? "",
              doc.last_synced ?? "",
            ]);
          process.stdout.write(`${table.toString()}\n`);
        });
      }),
    );
  connector
    .command("view")
    .alias("show")
    .description("print a connector document (sensitive configuration values masked)")
    .argument("<connector-id>")
    .allowUnknownOption()
    .addOption(configOption())
    .action(
      run(async (connectorId: string, opts: { config: string }) => {
        await withConnection(opts.config, async ({ protocol }) => {
          const found = await protocol.getConnector(connectorId);
          if (found === undefined)
            throw new PgSearchError(`connector ${connectorId} does not exist`, { code: "not_found" });
          process.stdout.write(`${JSON.stringify({ id: connectorId, ...masked(found.doc) }, null, 2)}\n`);
        });
      }),
    );
}

interface CreateOptions {
  config: string;
  id: string;
  indexName: string;
  name?: string;
  serviceType: string;
  createApiKey?: true;
}

/** connector create: the document Kibana would create, and optionally its API key. */
async function createConnector(opts: CreateOptions): Promise<void> {
  await withConnection(opts.config, async ({ client, protocol }) => {
    if (await protocol.connectorExists(opts.id))
      throw new PgSearchError(`connector ${opts.id} already exists`, { code: "exists" });
    await protocol.createConnector(opts.id, {
      name: opts.name ?? opts.id,
      indexName: opts.indexName,
      serviceType: opts.serviceType,
    });
    process.stdout.write(
      `created connector ${opts.id} (index ${opts.indexName}, through the ${protocol.name} backend); configure it in Kibana\n`,
    );
    if (opts.createApiKey === true) await createApiKey(client, protocol, opts.id, opts.indexName);
  });
}

/** Sensitive configuration values (the password) are stored in clear: show them masked. */
function masked(doc: ConnectorDocument): ConnectorDocument {
  const configuration = Object.fromEntries(
    Object.entries(doc.configuration ?? {}).map(([key, field]) => {
      const f = field as { sensitive?: boolean; value?: unknown };
      return [key, f.sensitive === true && f.value !== "" ? "********" : f.value];
    }),
  );
  return { ...doc, configuration };
}

async function createApiKey(
  client: Client,
  protocol: IndexProtocol,
  id: string,
  indexName: string,
): Promise<void> {
  const key = await client.security.createApiKey({
    name: `${indexName}-connector`,
    role_descriptors: {
      [`${indexName}-connector-role`]: {
        cluster: ["monitor", "manage_connector"],
        indices: [
          {
            names: [indexName, `.search-acl-filter-${indexName}`, ".elastic-connectors*", "pgsearch-state"],
            privileges: ["all"],
            allow_restricted_indices: false,
          },
        ],
      },
    },
  });
  await protocol.updateConnector(id, { api_key_id: key.id });
  process.stdout.write(
    `API key ${key.id} created; put this in config.yml connectors[].api_key:\n${key.encoded}\n`,
  );
}

function addIndexCommands(program: Command, run: Run): void {
  const index = program.command("index").description("content indices of the connectors");
  index
    .command("list")
    .description("list the connectors' content indices with their document count and size")
    .addOption(configOption())
    .action(
      run(async (opts: { config: string }) => {
        await withConnection(opts.config, async ({ client, protocol }) => {
          const table = new Table({ head: ["index", "connector", "documents", "size"], style: PLAIN });
          for (const { id, doc } of await protocol.listConnectors()) {
            const name = doc.index_name;
            if (name == null || name === "") continue;
            const stats = await client.cat
              .indices({ index: name, format: "json", bytes: "mb" })
              .catch(() => []);
            const row = stats[0];
            const size = row?.["store.size"];
            table.push([name, id, row?.["docs.count"] ?? "missing", size === undefined ? "" : `${size} MB`]);
          }
          process.stdout.write(`${table.toString()}\n`);
        });
      }),
    );
  index
    .command("clean")
    .description("delete every document of a content index, keeping the index and its mappings")
    .argument("<index>")
    .addOption(configOption())
    .action(
      run(async (name: string, opts: { config: string }) => {
        await withConnection(opts.config, async ({ client }) => {
          const deleted = await deleteAllDocuments(client, name);
          process.stdout.write(`deleted ${String(deleted)} documents from ${name}\n`);
        });
      }),
    );
  index
    .command("delete")
    .description("delete a content index")
    .argument("<index>")
    .addOption(configOption())
    .action(
      run(async (name: string, opts: { config: string }) => {
        await withConnection(opts.config, async ({ client }) => {
          await client.indices.delete({ index: name });
          process.stdout.write(`deleted index ${name}\n`);
        });
      }),
    );
}

function addJobCommands(program: Command, run: Run): void {
  const job = program.command("job").description("sync jobs");
  addJobStart(job, run);
  job
    .command("list")
    .description("list sync jobs, newest first (all, or one connector's)")
    .argument("[connector-id]")
    .allowUnknownOption()
    .addOption(configOption())
    .action(
      run(async (connectorId: string | undefined, opts: { config: string }) => {
        await withConnection(opts.config, async ({ protocol }) => {
          process.stdout.write(`${jobTable(await protocol.listJobs(connectorId))}\n`);
        });
      }),
    );
  job
    .command("view")
    .alias("show")
    .description("print a sync job (without the configuration snapshot, which holds the password)")
    .argument("<job-id>")
    .allowUnknownOption()
    .addOption(outputOption())
    .addOption(configOption())
    .action(
      run(async (jobId: string, opts: { config: string; output: "text" | "json" }) => {
        await withConnection(opts.config, async ({ protocol }) => {
          const found = await protocol.getJob(jobId);
          if (found === undefined)
            throw new PgSearchError(`job ${jobId} does not exist`, { code: "not_found" });
          const connector: Record<string, unknown> = { ...found.doc.connector };
          delete connector.configuration;
          const doc = { id: jobId, ...found.doc, connector };
          process.stdout.write(
            opts.output === "json" ? `${JSON.stringify(doc)}\n` : `${JSON.stringify(doc, null, 2)}\n`,
          );
        });
      }),
    );
  job
    .command("cancel")
    .description("ask the service running a job to cancel it (status canceling)")
    .argument("<job-id>")
    .allowUnknownOption()
    .addOption(configOption())
    .action(
      run(async (jobId: string, opts: { config: string }) => {
        await withConnection(opts.config, async ({ protocol }) => {
          await protocol.cancelJob(jobId);
          process.stdout.write(`cancel requested for ${jobId}\n`);
        });
      }),
    );
}

/**
 * Deletes every document of an index, as Elastic's `index clean` does with `_delete_by_query`;
 * where the reindex module (which serves it) is missing, by pages of ids and `_bulk` deletes.
 */
async function deleteAllDocuments(client: Client, index: string): Promise<number> {
  try {
    const result = await client.deleteByQuery({
      index,
      query: { match_all: {} },
      refresh: true,
      conflicts: "proceed",
    });
    return result.deleted ?? 0;
  } catch (error) {
    const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status !== 400 && status !== 405) throw error;
  }
  let deleted = 0;
  for (;;) {
    await client.indices.refresh({ index });
    const page = await client.search({ index, size: 1000, _source: false, query: { match_all: {} } });
    if (page.hits.hits.length === 0) return deleted;
    await client.bulk({
      operations: page.hits.hits.map((hit) => ({ delete: { _index: index, _id: hit._id } })),
    });
    deleted += page.hits.hits.length;
  }
}

function addJobStart(job: Command, run: Run): void {
  job
    .command("start")
    .description("queue an on-demand sync job for a connector; prints the job id")
    .argument("[connector-id]", "connector id (or -i)")
    .allowUnknownOption()
    .option("-i, --connector-id <id>", "connector id, as Elastic's CLI takes it")
    .addOption(
      new Option("-t, --type <type>", "job type")
        .choices(["full", "incremental"] as const)
        .default("full" as const),
    )
    .addOption(outputOption())
    .addOption(configOption())
    .action(
      run(
        async (
          positional: string | undefined,
          opts: {
            config: string;
            connectorId?: string;
            type: "full" | "incremental";
            output: "text" | "json";
          },
        ) => {
          const connectorId = opts.connectorId ?? positional;
          if (connectorId === undefined)
            throw new PgSearchError("job start needs a connector id (-i <id>)", { code: "config_invalid" });
          await withConnection(opts.config, async ({ protocol }) => {
            const found = await protocol.getConnector(connectorId);
            if (found === undefined || found.doc.deleted === true)
              throw new PgSearchError(`connector ${connectorId} does not exist`, { code: "not_found" });
            const id = await protocol.createJob(found, opts.type, "on_demand");
            process.stdout.write(opts.output === "json" ? `${JSON.stringify({ id })}\n` : `${id}\n`);
          });
        },
      ),
    );
}

function jobTable(jobs: Versioned<JobDocument>[]): string {
  const table = new Table({
    head: ["job", "connector", "type", "status", "indexed", "deleted", "created"],
    style: PLAIN,
  });
  for (const { id, doc } of jobs)
    table.push([
      id,
      doc.connector.id,
      doc.job_type,
      doc.status,
      doc.indexed_document_count ?? 0,
      doc.deleted_document_count ?? 0,
      doc.created_at,
    ]);
  return table.toString();
}
