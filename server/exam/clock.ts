import { performance } from 'node:perf_hooks';

/**
 * The server's notion of "now", anchored to the database's clock: deadlines are written and compared
 * with PostgreSQL's `now()`, so the times we tell students must use the same clock, whatever the drift
 * of this node's. Every statement that returns `now()` may feed a sample.
 *
 * Between samples, time runs on the process's monotonic clock (`performance.now()`), not its wall
 * clock: a wall clock set ahead or back while the node runs (by hand, or a broken time sync) moves
 * nothing here. Before the first sample (see {@link DbClock.measure}, done at start-up) it is the
 * node's own wall clock.
 */
export class DbClock {
  /** The database's time (ms) at the monotonic instant {@link atMono}; null before the first sample. */
  private dbMs: number | null = null;
  private atMono = 0;

  /** `dbNow` was read by a statement sent at `sentAt` (local ms, `Date.now()`) that returned just now. */
  sample(dbNow: Date, sentAt: number): void {
    // The database read its clock about halfway through the round trip.
    this.dbMs = dbNow.getTime() + Math.max(0, Date.now() - sentAt) / 2;
    this.atMono = performance.now();
  }

  /** Samples the database's clock with `readDbNow` (a statement returning `now()`). */
  async measure(readDbNow: () => Promise<Date>): Promise<void> {
    const sentAt = Date.now();
    this.sample(await readDbNow(), sentAt);
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** Whole milliseconds: the wire carries ISO times with millisecond precision. */
  nowMs(): number {
    return this.dbMs === null ? Date.now() : Math.round(this.dbMs + (performance.now() - this.atMono));
  }
}
