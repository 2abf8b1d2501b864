import { Cron } from "croner";
import type { Logger } from "../observability/logger.js";
import type { ConnectorDocument, ConnectorProtocol, JobType, Versioned } from "./protocol.js";

/** How often a lost conditional write is re-read and retried (Elastic's `with_concurrency_control`). */
const CONFLICT_RETRIES = 3;

const SCHEDULED_AT_FIELD = {
  full: "last_sync_scheduled_at",
  incremental: "last_incremental_sync_scheduled_at",
} as const;

/**
 * Creates scheduled jobs, as Elastic's `_try_schedule_sync` does: each poll looks at the cron
 * times between its previous poll and now (never further back, so downtime is not caught up), and
 * a due time becomes a job only for the process whose conditional write of
 * `last_<type>_sync_scheduled_at` (if_seq_no/if_primary_term) won. One due time, one job, however
 * many services poll and however slow they are.
 */
export class Scheduler {
  private lastWakeUp: Date;

  constructor(
    private readonly protocol: ConnectorProtocol,
    private readonly logger: Logger,
    startedAt: Date = new Date(),
  ) {
    this.lastWakeUp = startedAt;
  }

  /** Schedules the connector's due jobs for the poll at `now`. */
  async schedule(connector: Versioned<ConnectorDocument>, now: Date): Promise<void> {
    for (const jobType of ["incremental", "full"] as const) {
      const schedule = connector.doc.scheduling?.[jobType];
      if (schedule?.enabled !== true || schedule.interval === "") continue;
      let due: Date | undefined;
      try {
        due = dueTime(schedule.interval, this.lastWakeUp, now);
      } catch (error) {
        this.logger.warn(
          { connector_id: connector.id, interval: schedule.interval },
          `invalid schedule: ${(error as Error).message}`,
        );
        continue;
      }
      if (due === undefined) continue;
      const won = await this.takeDueTime(connector.id, jobType, due);
      if (won === undefined) continue;
      const jobId = await this.protocol.createJob(won, jobType, "scheduled");
      this.logger.info(
        { connector_id: connector.id, job_id: jobId, job_type: jobType, due: due.toISOString() },
        `scheduled ${jobType} sync created`,
      );
    }
  }

  /** The poll at `now` is over: the next one looks at cron times after it. */
  wokeUp(now: Date): void {
    this.lastWakeUp = now;
  }

  /**
   * Writes the due time with the connector's seq_no; the connector as written when this process
   * won, undefined when another process already took this due time (or a later one).
   */
  private async takeDueTime(
    connectorId: string,
    jobType: Exclude<JobType, "access_control">,
    due: Date,
  ): Promise<Versioned<ConnectorDocument> | undefined> {
    const field = SCHEDULED_AT_FIELD[jobType];
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const fresh = await this.protocol.getConnector(connectorId);
      if (fresh === undefined || fresh.doc.deleted === true) return undefined;
      const taken = fresh.doc[field];
      if (taken != null && new Date(taken).getTime() >= due.getTime()) return undefined;
      // A conflict can also be an unrelated write (a check-in): re-read and decide again.
      if (await this.protocol.updateConnector(connectorId, { [field]: due.toISOString() }, fresh))
        return fresh;
    }
    return undefined;
  }
}

/** The latest cron time in (after, upTo], if any: missed earlier times are not made up for. */
export function dueTime(interval: string, after: Date, upTo: Date): Date | undefined {
  const [latest] = quartz(interval).previousRuns(1, new Date(upTo.getTime() + 1));
  return latest !== undefined && latest.getTime() > after.getTime() ? latest : undefined;
}

/** Kibana writes Quartz expressions: seconds first, 1 = Sunday, `?` for "no value". */
export function quartz(expression: string): Cron {
  return new Cron(expression, {
    timezone: "UTC",
    alternativeWeekdays: true,
    sloppyRanges: true,
    paused: true,
  });
}
