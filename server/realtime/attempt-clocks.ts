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
  sync: NodeJS.Timeout;
  warnings: NodeJS.Timeout[];
}

/**
 * The server-owned timer, as this node's sockets see it: one entry per attempt with sockets here (not
 * one tick per socket per second). Clients count down locally from `deadlineAt` and `serverNow`; this
 * sends the `timer` on start, on a deadline change, every `syncMs`, and at the warnings.
 */
export class AttemptClocks {
  private readonly entries = new Map<number, Entry>();
  private readonly opts: AttemptClockOptions;

  constructor(
    private readonly nsp: ExamNamespace,
    private readonly clock: DbClock,
    opts: Partial<AttemptClockOptions> = {},
  ) {
    this.opts = { syncMs: 30_000, warningsMs: [300_000, 60_000], ...opts };
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
    const entry = this.entries.get(attemptId);
    if (!entry) return;
    clearInterval(entry.sync);
    entry.warnings.forEach(clearTimeout);
    this.entries.delete(attemptId);
  }

  /** Attempts with a running clock on this node. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    for (const id of [...this.entries.keys()]) this.drop(id);
  }

  private emit(attemptId: number, deadlineAt: Date, reason: TimerEvent['reason']): void {
    this.nsp.local.to(attemptRoom(attemptId)).emit(EXAM_EVENTS.timer, this.timerEvent(attemptId, deadlineAt, reason));
  }

  private schedule(attemptId: number, deadlineAt: Date, graceMs: number): void {
    this.drop(attemptId);
    const sync = setInterval(() => {
      const sockets = this.nsp.adapter.rooms.get(attemptRoom(attemptId))?.size ?? 0;
      if (sockets === 0 || this.clock.nowMs() > deadlineAt.getTime() + graceMs) this.drop(attemptId);
      else this.emit(attemptId, deadlineAt, 'sync');
    }, this.opts.syncMs);
    sync.unref();
    const remaining = deadlineAt.getTime() - this.clock.nowMs();
    const warnings = this.opts.warningsMs
      .filter((w) => remaining > w)
      .map((w) => {
        const t = setTimeout(() => this.emit(attemptId, deadlineAt, 'warning'), remaining - w);
        t.unref();
        return t;
      });
    this.entries.set(attemptId, { deadlineAt, graceMs, sync, warnings });
  }
}
