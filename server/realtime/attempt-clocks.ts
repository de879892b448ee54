import type { DbClock } from '../exam/clock.js';
import { EXAM_EVENTS, type TimerEvent } from '../protocol.js';
import { attemptRoom } from './rooms.js';
import type { ExamNamespace } from './socket-server.js';

export interface AttemptClockOptions {
  /** Periodic `timer` sync to each attempt's sockets. @default 30000 */
  syncMs: number;
  /** Remaining times at which a `timer` with reason `warning` is sent. @default [300000, 60000] */
  warningsMs: number[];
}

interface Entry {
  deadlineAt: Date;
  graceMs: number;
  /** When the next periodic sync is due (the clock's ms). */
  nextSyncAt: number;
  /** Index in the warnings (largest first) of the next one still to send. */
  nextWarning: number;
}

/** How often the node looks for syncs and warnings that are due. */
const TICK_MS = 1000;

/**
 * The server-owned timer, as this node's sockets see it: one entry per attempt with sockets here (not
 * one tick per socket per second). Clients count down locally from `deadlineAt` and `serverNow`; this
 * sends the `timer` on start, on a deadline change, every `syncMs`, and at the warnings.
 *
 * One timer per node drives every attempt: each second it sends the syncs and warnings that are due
 * (a warning up to a second after its mark, never before). Timers of their own per attempt cost a
 * few hundred bytes each at thousands of students (docs/benchmarks.md, "Memory per student").
 */
export class AttemptClocks {
  private readonly entries = new Map<number, Entry>();
  private readonly opts: AttemptClockOptions;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nsp: ExamNamespace,
    private readonly clock: DbClock,
    opts: Partial<AttemptClockOptions> = {},
  ) {
    const merged = { syncMs: 30_000, warningsMs: [300_000, 60_000], ...opts };
    this.opts = { ...merged, warningsMs: [...merged.warningsMs].sort((x, y) => y - x) };
  }

  timerEvent(attemptId: number, deadlineAt: Date, reason: TimerEvent['reason']): TimerEvent {
    const now = this.clock.nowMs();
    return {
      attemptId,
      deadlineAt: deadlineAt.toISOString(),
      serverNow: new Date(now).toISOString(),
      remainingMs: Math.max(0, deadlineAt.getTime() - now),
      reason,
    };
  }

  /** A socket here joined the attempt's room: make sure its clock runs. */
  track(attemptId: number, deadlineAt: Date, graceMs: number): void {
    const entry = this.entries.get(attemptId);
    if (entry && entry.deadlineAt.getTime() === deadlineAt.getTime()) return;
    this.schedule(attemptId, deadlineAt, graceMs);
  }

  /** The deadline moved (an extension): tell this node's sockets now and re-plan the warnings. */
  update(attemptId: number, deadlineAt: Date): void {
    const entry = this.entries.get(attemptId);
    if (entry) this.schedule(attemptId, deadlineAt, entry.graceMs);
    this.emit(attemptId, deadlineAt, 'change');
  }

  /** The deadline this node's clock for the attempt runs to; undefined when it runs none. */
  deadlineOf(attemptId: number): Date | undefined {
    return this.entries.get(attemptId)?.deadlineAt;
  }

  /** The attempt ended: nothing more to tell. */
  drop(attemptId: number): void {
    this.entries.delete(attemptId);
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Attempts with a running clock on this node. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.entries.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private emit(attemptId: number, deadlineAt: Date, reason: TimerEvent['reason']): void {
    this.nsp.local.to(attemptRoom(attemptId)).emit(EXAM_EVENTS.timer, this.timerEvent(attemptId, deadlineAt, reason));
  }

  private schedule(attemptId: number, deadlineAt: Date, graceMs: number): void {
    const now = this.clock.nowMs();
    const remaining = deadlineAt.getTime() - now;
    // Warning marks already behind at the start (or the change) are never sent.
    let nextWarning = this.opts.warningsMs.findIndex((w) => remaining > w);
    if (nextWarning < 0) nextWarning = this.opts.warningsMs.length;
    this.entries.set(attemptId, { deadlineAt, graceMs, nextSyncAt: now + this.opts.syncMs, nextWarning });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), Math.min(TICK_MS, this.opts.syncMs));
      this.timer.unref();
    }
  }

  private tick(): void {
    const now = this.clock.nowMs();
    const { syncMs, warningsMs } = this.opts;
    for (const [attemptId, e] of this.entries) {
      const deadline = e.deadlineAt.getTime();
      if (e.nextWarning < warningsMs.length && deadline - now <= warningsMs[e.nextWarning]!) {
        // One warning even when two marks fell due in the same second.
        while (e.nextWarning < warningsMs.length && deadline - now <= warningsMs[e.nextWarning]!) e.nextWarning++;
        this.emit(attemptId, e.deadlineAt, 'warning');
      }
      if (now < e.nextSyncAt) continue;
      e.nextSyncAt += syncMs;
      const sockets = this.nsp.adapter.rooms.get(attemptRoom(attemptId))?.size ?? 0;
      if (sockets === 0 || now > deadline + e.graceMs) this.drop(attemptId);
      else this.emit(attemptId, e.deadlineAt, 'sync');
    }
  }
}
