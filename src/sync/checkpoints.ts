/**
 * Tracks, per stream, which read batches Elasticsearch has fully acknowledged. The checkpoint
 * only moves past a batch when it and every batch before it are done, so a resumed sync
 * re-reads at most the batches that were in flight and never skips one.
 */
export class CheckpointTracker {
  private readonly queues = new Map<string, { after: (string | null)[]; pending: number }[]>();
  private readonly positions = new Map<
    string,
    { after: (string | null)[] | null; rows: number; done: boolean }
  >();

  start(stream: string, after: (string | null)[] | null, rows = 0): void {
    this.queues.set(stream, []);
    this.positions.set(stream, { after, rows, done: false });
  }

  /** A batch whose last key is `after` and which has `pending` writes outstanding. */
  addBatch(stream: string, after: (string | null)[], pending: number): BatchTicket {
    const queue = this.queues.get(stream);
    if (queue === undefined) throw new Error(`stream ${stream} not started`);
    const batch = { after, pending, rows: 0 };
    queue.push(batch);
    const ticket: BatchTicket = {
      stream,
      ack: () => {
        batch.pending--;
        if (batch.pending === 0) this.advance(stream);
      },
    };
    if (pending === 0) this.advance(stream);
    return ticket;
  }

  /** Marks the stream read to the end; it is done once its last batch is acknowledged. */
  finish(stream: string): void {
    const position = this.positions.get(stream);
    if (position === undefined) return;
    (position as { finishing?: boolean }).finishing = true;
    this.advance(stream);
  }

  private advance(stream: string): void {
    const queue = this.queues.get(stream);
    const position = this.positions.get(stream);
    if (queue === undefined || position === undefined) return;
    while (queue.length > 0 && (queue[0]?.pending ?? 1) <= 0) {
      const batch = queue.shift();
      if (batch !== undefined) position.after = batch.after;
    }
    if (queue.length === 0 && (position as { finishing?: boolean }).finishing === true) position.done = true;
  }

  addRows(stream: string, rows: number): void {
    const position = this.positions.get(stream);
    if (position !== undefined) position.rows += rows;
  }

  snapshot(): Record<string, { done: boolean; after: string | null; rows: number }> {
    const result: Record<string, { done: boolean; after: string | null; rows: number }> = {};
    for (const [stream, position] of this.positions) {
      result[stream] = {
        done: position.done,
        after: position.after === null ? null : JSON.stringify(position.after),
        rows: position.rows,
      };
    }
    return result;
  }
}

export interface BatchTicket {
  stream: string;
  ack(): void;
}
