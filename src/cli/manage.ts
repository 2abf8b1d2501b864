import type { Command } from "@commander-js/extra-typings";
import { Option } from "@commander-js/extra-typings";
import Table from "cli-table3";
import { defaultConnectorConfiguration } from "../config/connector-fields.js";
import { PgSearchError } from "../errors.js";
import { CONNECTORS_INDEX, IndexProtocol, JOBS_INDEX } from "../service/index-protocol.js";
import type { ConnectorDocument, JobDocument } from "../service/protocol.js";
import { loadServiceConfig } from "../service/service-config.js";
import { connectElasticsearch } from "../sink/es-client.js";

const PLAIN = { head: [], border: [] };

/** Runs `work` with a connection to the cluster of config.yml, closed afterwards. */
async function withConnection<T>(
  configPath: string,
  work: (c: Awaited<ReturnType<typeof open>>) => Promise<T>,
): Promise<T> {
  const connection = await open(configPath);
  try {
    return await work(connection);
  } finally {
    await connection.es.client.close();
  }
}

async function open(configPath: string) {
  const config = loadServiceConfig(configPath, { ...process.env });
  const es = await connectElasticsearch(config.elasticsearch);
  const protocol = new IndexProtocol(es.client);
  await protocol.prepare();
  return { es, protocol };
}

/**
 * The management commands of Elastic's connectors CLI, over the same documents the service
 * reads: connector create/list/show, job start/list/show/cancel, index list.
 */
export function addManagementCommands(program: Command, report: (error: unknown) => number): void {
  const configOption = () =>
    new Option("-c, --config <file>", "connector service config.yml").default("config.yml");
  const run = (work: (configPath: string) => Promise<void>) => async (opts: { config: string }) => {
    try {
      await work(opts.config);
    } catch (error) {
      process.exitCode = report(error);
    }
  };

  const connector = program.command("connector").description("manage connectors (as Kibana does)");
  connector
    .command("create")
    .description("create a PostgreSQL connector document")
    .addOption(configOption())
    .requiredOption("--id <id>", "connector id (used in config.yml connectors[].connector_id)")
    .requiredOption("--index-name <name>", "content index")
    .option("--name <name>", "display name")
    .option(
      "--create-api-key",
      "create an API key with the reference's role descriptors (needs security enabled)",
    )
    .action(async (opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ es, protocol }) => {
          if (await protocol.connectorExists(opts.id))
            throw new PgSearchError(`connector ${opts.id} already exists`, { code: "exists" });
          const doc: ConnectorDocument = {
            name: opts.name ?? opts.id,
            index_name: opts.indexName,
            service_type: "postgresql",
            status: "needs_configuration",
            is_native: false,
            configuration: defaultConnectorConfiguration(),
            scheduling: {
              full: { enabled: false, interval: "0 0 0 * * ?" },
              incremental: { enabled: false, interval: "0 0 * * * ?" },
            },
          };
          await es.client.index({ index: CONNECTORS_INDEX, id: opts.id, document: doc, refresh: true });
          process.stdout.write(
            `created connector ${opts.id} (index ${opts.indexName}); configure it in Kibana or its document\n`,
          );
          if (opts.createApiKey === true) {
            const key = await es.client.security.createApiKey({
              name: `${opts.indexName}-connector`,
              role_descriptors: {
                [`${opts.indexName}-connector-role`]: {
                  cluster: ["monitor", "manage_connector"],
                  indices: [
                    {
                      names: [
                        opts.indexName,
                        `.search-acl-filter-${opts.indexName}`,
                        ".elastic-connectors*",
                        "pgsearch-state",
                      ],
                      privileges: ["all"],
                      allow_restricted_indices: false,
                    },
                  ],
                },
              },
            });
            await protocol.updateConnector(opts.id, { api_key_id: key.id });
            process.stdout.write(
              `API key ${key.id} created; put this in config.yml connectors[].api_key:\n${key.encoded}\n`,
            );
          }
        });
      })(opts);
    });
  connector
    .command("list")
    .addOption(configOption())
    .action(
      run(async (path) => {
        await withConnection(path, async ({ es }) => {
          const result = await es.client.search<ConnectorDocument>({
            index: CONNECTORS_INDEX,
            size: 100,
            query: { bool: { must_not: { term: { deleted: true } } } },
          });
          const table = new Table({
            head: ["id", "name", "index", "status", "last sync", "last synced"],
            style: PLAIN,
          });
          for (const hit of result.hits.hits) {
            const d = hit._source ?? {};
            table.push([
              hit._id ?? "",
              d.name ?? "",
              d.index_name ?? "",
              d.status ?? "",
              d.last_sync_status ?? "",
              d.last_synced ?? "",
            ]);
          }
          process.stdout.write(`${table.toString()}\n`);
        });
      }),
    );

  connector
    .command("show")
    .argument("<connector-id>")
    .addOption(configOption())
    .action(async (connectorId, opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ protocol }) => {
          const found = await protocol.getConnector(connectorId);
          if (found === undefined)
            throw new PgSearchError(`connector ${connectorId} does not exist`, { code: "not_found" });
          // Sensitive configuration values (the password) are stored in clear: show them masked.
          const configuration = Object.fromEntries(
            Object.entries(found.doc.configuration ?? {}).map(([key, field]) => {
              const f = field as { sensitive?: boolean; value?: unknown };
              return [key, f.sensitive === true && f.value !== "" ? "********" : f.value];
            }),
          );
          process.stdout.write(
            `${JSON.stringify({ id: connectorId, ...found.doc, configuration }, null, 2)}\n`,
          );
        });
      })(opts);
    });

  program
    .command("index")
    .description("content indices")
    .command("list")
    .addOption(configOption())
    .action(
      run(async (path) => {
        await withConnection(path, async ({ es }) => {
          const connectors = await es.client.search<ConnectorDocument>({
            index: CONNECTORS_INDEX,
            size: 10_000,
          });
          const table = new Table({ head: ["index", "connector", "documents", "size"], style: PLAIN });
          for (const hit of connectors.hits.hits) {
            const name = hit._source?.index_name;
            if (name === undefined || name === "") continue;
            const stats = await es.client.cat
              .indices({ index: name, format: "json", bytes: "mb" })
              .catch(() => []);
            const row = stats[0];
            table.push([
              name,
              hit._id ?? "",
              row?.["docs.count"] ?? "missing",
              row?.["store.size"] === undefined ? "" : `${row["store.size"]} MB`,
            ]);
          }
          process.stdout.write(`${table.toString()}\n`);
        });
      }),
    );

  const job = program.command("job").description("sync jobs");
  job
    .command("start")
    .argument("<connector-id>")
    .addOption(configOption())
    .addOption(new Option("--type <type>", "job type").choices(["full", "incremental"]).default("full"))
    .action(async (connectorId, opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ protocol }) => {
          const found = await protocol.getConnector(connectorId);
          if (found === undefined)
            throw new PgSearchError(`connector ${connectorId} does not exist`, { code: "not_found" });
          const id = await protocol.createJob(found, opts.type, "on_demand");
          process.stdout.write(`${id}\n`);
        });
      })(opts);
    });
  job
    .command("list")
    .argument("[connector-id]")
    .addOption(configOption())
    .action(async (connectorId, opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ es }) => {
          const result = await es.client.search<JobDocument>({
            index: JOBS_INDEX,
            size: 100,
            sort: [{ created_at: "desc" }],
            query: connectorId === undefined ? { match_all: {} } : { term: { "connector.id": connectorId } },
          });
          const table = new Table({
            head: ["job", "connector", "type", "status", "indexed", "deleted", "created"],
            style: PLAIN,
          });
          for (const hit of result.hits.hits) {
            const d = hit._source;
            if (d === undefined) continue;
            table.push([
              hit._id ?? "",
              d.connector.id,
              d.job_type,
              d.status,
              d.indexed_document_count ?? 0,
              d.deleted_document_count ?? 0,
              d.created_at,
            ]);
          }
          process.stdout.write(`${table.toString()}\n`);
        });
      })(opts);
    });
  job
    .command("show")
    .argument("<job-id>")
    .addOption(configOption())
    .action(async (jobId, opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ protocol }) => {
          const found = await protocol.getJob(jobId);
          if (found === undefined)
            throw new PgSearchError(`job ${jobId} does not exist`, { code: "not_found" });
          // The configuration snapshot holds the PostgreSQL password in clear: never print it.
          const connectorSnapshot: Record<string, unknown> = { ...found.doc.connector };
          delete connectorSnapshot.configuration;
          process.stdout.write(
            `${JSON.stringify({ ...found.doc, connector: connectorSnapshot }, null, 2)}\n`,
          );
        });
      })(opts);
    });
  job
    .command("cancel")
    .argument("<job-id>")
    .addOption(configOption())
    .action(async (jobId, opts) => {
      await run(async (path) => {
        await withConnection(path, async ({ protocol }) => {
          await protocol.updateJob(jobId, {
            status: "canceling",
            cancelation_requested_at: new Date().toISOString(),
          });
          process.stdout.write(`cancel requested for ${jobId}\n`);
        });
      })(opts);
    });
}
