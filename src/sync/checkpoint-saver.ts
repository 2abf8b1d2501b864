import type { Logger } from "../observability/logger.js";
import type { CheckpointTracker } from "./checkpoints.js";
import type { StateStore, SyncState } from "./state-store.js";

/**
 * Writes a sync's state document one write at a time. The periodic "running" checkpoint and the
 * final status go through the same queue, and once a final status was queued no "running" write
 * is accepted: a timer tick can never land after "completed" and make a finished sync look
 * interrupted (issue 10.7).
 */
export class CheckpointSaver {
  private queue: Promise<void> = Promise.resolve();
  private final = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: StateStore,
    readonly state: SyncState,
    private readonly tracker: CheckpointTracker,
    private readonly log: Logger,
  ) {}

  /** Saves "running" with the tracker's positions every `intervalMs` until a final save. */
  startTimer(intervalMs = 2000): void {
    this.timer = setInterval(() => {
      void this.save("running");
    }, intervalMs);
    this.timer.unref();
  }

  /** Queues a save of the tracker's positions; a failed write is logged, the sync goes on. */
  save(status: SyncState["status"]): Promise<void> {
    if (this.final) return this.queue;
    if (status !== "running") this.stopTimer();
    this.final = status !== "running";
    return this.enqueue(async () => {
      this.state.status = status;
      this.state.updated_at = new Date().toISOString();
      this.state.streams = { ...this.state.streams, ...this.tracker.snapshot() };
      await this.store.save(this.state).catch((error: unknown) => {
        this.log.warn({ err: error }, "could not save the checkpoint");
      });
    });
  }

  /** The final "completed" write: `update` fills in the result; a failed write fails the sync. */
  complete(update: (state: SyncState) => void): Promise<void> {
    this.stopTimer();
    this.final = true;
    return this.enqueue(async () => {
      update(this.state);
      this.state.status = "completed";
      this.state.updated_at = new Date().toISOString();
      await this.store.save(this.state);
    });
  }

  stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.queue.then(write, write);
    // The queue itself never rejects, so one failed write does not block the next.
    this.queue = next.catch(() => undefined);
    return next;
  }
}
