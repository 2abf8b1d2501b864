import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { PgSearchError } from "../errors.js";

/** A readiness check for /readyz: resolves with a problem ("elasticsearch: ...") or undefined. */
export type ReadinessCheck = () => Promise<string | undefined>;

/** The service's Prometheus metrics (optional: `pgsearch serve --metrics-port N`). */
export class Metrics {
  readonly registry = new Registry();
  readonly documentsIndexed = new Counter({
    name: "pgsearch_documents_indexed_total",
    help: "Documents created or updated in Elasticsearch (rate() gives docs/s)",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly documentsDeleted = new Counter({
    name: "pgsearch_documents_deleted_total",
    help: "Documents deleted because their rows are gone",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly documentFailures = new Counter({
    name: "pgsearch_document_failures_total",
    help: "Documents Elasticsearch refused",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: "pgsearch_bulk_bytes_total",
    help: "NDJSON bytes sent to _bulk",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly bulkQueueBytes = new Gauge({
    name: "pgsearch_bulk_queue_bytes",
    help: "NDJSON bytes read from PostgreSQL and not yet settled by Elasticsearch (memory held by the sink)",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: "pgsearch_sync_jobs_total",
    help: "Finished sync jobs by status",
    labelNames: ["connector", "status"],
    registers: [this.registry],
  });
  readonly followLagSeconds = new Gauge({
    name: "pgsearch_follow_lag_seconds",
    help: "Seconds since the last applied commit while changes are pending",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly slotRetainedBytes = new Gauge({
    name: "pgsearch_replication_slot_retained_bytes",
    help: "WAL the replication slot keeps on the PostgreSQL server",
    labelNames: ["connector"],
    registers: [this.registry],
  });

  readonly syncDuration = new Histogram({
    name: "pgsearch_sync_duration_seconds",
    help: "Duration of finished syncs by status",
    labelNames: ["connector", "status"],
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: "pgsearch_last_success_timestamp_seconds",
    help: "Unix time of the last sync that completed (alert on time() - this)",
    labelNames: ["connector"],
    registers: [this.registry],
  });
  readonly changesApplied = new Counter({
    name: "pgsearch_follow_changes_applied_total",
    help: "Row changes applied to the index by sync --follow / the service's follower",
    labelNames: ["connector"],
    registers: [this.registry],
  });

  constructor() {
    // process_resident_memory_bytes, nodejs_eventloop_lag_seconds, GC: the standard names, unprefixed,
    // so the usual Node.js dashboards find them.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a finished sync: the jobs counter, the duration histogram, the last-success time. */
  recordSync(connector: string, status: string, durationSeconds: number): void {
    this.jobs.inc({ connector, status });
    this.syncDuration.observe({ connector, status }, durationSeconds);
    if (status === "completed") this.lastSuccess.set({ connector }, Date.now() / 1000);
  }

  /**
   * Serves GET /metrics, /healthz (the process is up) and /readyz (every check passes) on
   * 127.0.0.1 or `host`. A port in use is a PgSearchError saying so, not a stack trace.
   */
  async listen(port: number, host = "127.0.0.1", readiness: ReadinessCheck[] = []): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      }
      if (req.url === "/readyz") {
        void ready(readiness).then((problems) => {
          res
            .writeHead(problems.length === 0 ? 200 : 503, { "content-type": "text/plain" })
            .end(problems.length === 0 ? "ok\n" : `${problems.join("\n")}\n`);
        });
        return;
      }
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      this.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": this.registry.contentType }).end(text);
        })
        .catch((error: unknown) => {
          res.writeHead(500).end(String(error));
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => {
        reject(
          new PgSearchError(
            error.code === "EADDRINUSE"
              ? `metrics port ${port} on ${host} is already in use: stop the other process or choose another --metrics-port`
              : `cannot serve metrics on ${host}:${port}: ${error.message}`,
            { code: "metrics_listen_failed" },
          ),
        );
      });
      server.listen(port, host, resolve);
    });
    return server;
  }
}

async function ready(checks: ReadinessCheck[]): Promise<string[]> {
  const results = await Promise.all(
    checks.map((check) =>
      check().catch((e: unknown) => `not ready: ${e instanceof Error ? e.message : String(e)}`),
    ),
  );
  return results.filter((r): r is string => r !== undefined);
}
