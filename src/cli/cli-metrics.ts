import type { Server } from "node:http";
import type { AppliedBatch } from "../sync/follow.js";
import type { SyncResult } from "../sync/sync-types.js";
import { ConfigError } from "../errors.js";
import type { wireStandalone } from "./wiring.js";

/** `sync [--follow] --metrics-port`: the service's metrics and health for a standalone sync. */
export interface CliMetrics {
  server: Server;
  recordSync(result: SyncResult): void;
  applied(batch: AppliedBatch): void;
  following(): void;
}

export async function cliMetrics(
  opts: { metricsPort?: string; metricsHost: string; follow?: true },
  wired: Awaited<ReturnType<typeof wireStandalone>>,
  indexName: string,
): Promise<CliMetrics | undefined> {
  if (opts.metricsPort === undefined) return undefined;
  const port = metricsPort(opts.metricsPort);
  const { Metrics } = await import("../observability/metrics.js");
  const metrics = new Metrics();
  const labels = { connector: indexName };
  let streaming = false;
  const server = await metrics.listen(port, opts.metricsHost, [
    async () => {
      await wired.es.client.cluster.health({}, { requestTimeout: 5000 });
      return undefined;
    },
    async () => {
      await wired.source.ping();
      return undefined;
    },
    () => Promise.resolve(opts.follow === true && !streaming ? "follower: not streaming yet" : undefined),
  ]);
  return {
    server,
    recordSync: (result) => {
      metrics.documentsIndexed.inc(labels, result.bulk.created + result.bulk.updated);
      metrics.documentsDeleted.inc(labels, result.deleted);
      metrics.documentFailures.inc(labels, result.bulk.failed);
      metrics.recordSync(indexName, result.status, result.durationMs / 1000);
    },
    applied: (batch) => {
      metrics.changesApplied.inc(labels, batch.keys);
      metrics.documentsIndexed.inc(labels, batch.indexed);
      metrics.documentsDeleted.inc(labels, batch.deleted);
    },
    following: () => {
      streaming = true;
    },
  };
}

/** `--metrics-port`: a port number, or a usage error (exit 2). */
export function metricsPort(value: string | undefined): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ConfigError("--metrics-port", `must be a port number (1-65535), got ${JSON.stringify(value)}`);
  return port;
}
