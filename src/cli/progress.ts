import { terminal, type LiveRegion } from "../observability/logger.js";
import type { SyncProgress } from "../sync/sync-engine.js";

/**
 * Live per-table progress: redrawn in place on a TTY, a log line every few seconds otherwise
 * (so CI logs and `| tee` stay readable).
 */
export class ProgressDisplay implements LiveRegion {
  private lastLines = 0;
  private rendered: string[] = [];
  private lastPlainAt = 0;
  private previous: { at: number; docs: number } | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = process.stderr.isTTY,
  ) {
    // Log lines are written above the display, never through it.
    if (tty) terminal.live = this;
  }

  clear(): void {
    if (this.lastLines > 0) this.out.write(`\x1b[${this.lastLines}A\x1b[0J`);
    this.lastLines = 0;
  }

  redraw(): void {
    this.out.write(this.rendered.map((l) => `\x1b[2K${l}\n`).join(""));
    this.lastLines = this.rendered.length;
  }

  update(progress: SyncProgress): void {
    const now = Date.now();
    const sent = progress.streams.reduce((n, s) => n + s.docsSent, 0);
    const rate =
      this.previous === undefined
        ? 0
        : ((sent - this.previous.docs) * 1000) / Math.max(1, now - this.previous.at);
    if (this.previous === undefined || now - this.previous.at > 1000) this.previous = { at: now, docs: sent };
    if (!this.tty) {
      if (now - this.lastPlainAt < 5000 && progress.phase === "reading") return;
      this.lastPlainAt = now;
      const rows = progress.streams.reduce((n, s) => n + s.rowsRead, 0);
      this.out.write(
        `[${(progress.elapsedMs / 1000).toFixed(0)}s] ${progress.phase}: ${rows} rows read, ${sent} docs sent, ` +
          `${progress.bulk.failed} failed, ${progress.deleted} deleted\n`,
      );
      return;
    }
    const lines = progress.streams.map((s) => {
      const total = s.estimatedRows > 0 ? Math.max(s.estimatedRows, s.rowsRead) : 0;
      const pct = total > 0 ? Math.min(100, (s.rowsRead / total) * 100) : s.state === "done" ? 100 : 0;
      const bar = "#".repeat(Math.round(pct / 5)).padEnd(20, ".");
      const eta =
        rate > 0 && total > s.rowsRead && s.state === "reading"
          ? ` eta ${Math.ceil((total - s.rowsRead) / rate)}s`
          : "";
      return `${s.stream.padEnd(32).slice(0, 32)} [${bar}] ${String(s.rowsRead).padStart(10)} rows  ${s.state}${eta}${
        s.unchanged > 0 ? `  ${s.unchanged} unchanged` : ""
      }`;
    });
    lines.push(
      `${progress.phase}: ${sent} docs sent, ${Math.round(rate)} docs/s, ${progress.bulk.failed} failed, ${progress.deleted} deleted, ${(progress.elapsedMs / 1000).toFixed(1)}s`,
    );
    if (this.lastLines > 0) this.out.write(`\x1b[${this.lastLines}A`);
    this.rendered = lines;
    this.redraw();
  }
}
