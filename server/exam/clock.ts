/**
 * The server's notion of "now", anchored to the database's clock: deadlines are written and compared
 * with PostgreSQL's `now()`, so the times we tell students must use the same clock, whatever the drift
 * of this node's. Every statement that returns `now()` may feed a sample.
 */
export class DbClock {
  private offsetMs = 0;

  /** `dbNow` was read by a statement sent at `sentAt` (local ms) that returned just now. */
  sample(dbNow: Date, sentAt: number): void {
    const midpoint = (sentAt + Date.now()) / 2;
    // Whole milliseconds: the wire carries ISO times with millisecond precision.
    this.offsetMs = Math.round(dbNow.getTime() - midpoint);
  }

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
}
