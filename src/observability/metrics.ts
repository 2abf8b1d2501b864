import { createServer, type Server } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

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

  constructor() {
    // process_resident_memory_bytes, event loop lag, GC: the default Node.js metrics.
    collectDefaultMetrics({ register: this.registry, prefix: "pgsearch_" });
  }

  /** Serves GET /metrics on 127.0.0.1 (or `host`). */
  async listen(port: number, host = "127.0.0.1"): Promise<Server> {
    const server = createServer((req, res) => {
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
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    return server;
  }
}
