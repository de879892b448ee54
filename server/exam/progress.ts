import type { RosterQueries } from '../db/roster-queries.js';
import { FLAG_EVENT_TYPES, type RosterUpdate } from '../protocol.js';
import type { Logger } from './logger.js';

/** Changes that arrive together are read and sent together: the window a first change waits. */
const BATCH_WINDOW_MS = 25;

/**
 * Progress for the invigilators, throttled per student: the first change of an attempt goes out after
 * a short batching window, later ones at most once per `intervalMs` per attempt (the latest state
 * wins). Each flush is one statement for every attempt due (answered and flag counts) and one
 * `roster:update` per exam, so 2,000 students answering cost a few queries a second, not 2,000
 * messages, while a single answer still shows within tens of milliseconds.
 */
export class ProgressTracker {
  /** attemptId -> when it may be sent next. */
  private readonly due = new Map<number, number>();
  /** attemptId -> when it was last sent (kept for one interval). */
  private readonly lastSent = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly roster: RosterQueries,
    /** Receives one exam's progress rows (answered and flag counts). */
    private readonly emit: (examId: number, updates: RosterUpdate[]) => void,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {}

  touch(attemptId: number): void {
    if (this.closed || this.due.has(attemptId)) return;
    const now = Date.now();
    const last = this.lastSent.get(attemptId);
    this.due.set(attemptId, Math.max(now + BATCH_WINDOW_MS, last === undefined ? 0 : last + this.intervalMs));
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.flushing || this.due.size === 0) return;
    const next = Math.min(...this.due.values());
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.flushing = this.flush()
        .catch((err: unknown) => this.log.warn({ err }, 'progress push failed'))
        .finally(() => {
          this.flushing = null;
          this.schedule();
        });
    }, Math.max(0, next - Date.now()));
  }

  /** Sends every attempt that is due now. */
  async flush(): Promise<void> {
    const now = Date.now();
    const ids = [...this.due].filter(([, at]) => at <= now + 5).map(([id]) => id);
    for (const [id, at] of this.lastSent) if (at + this.intervalMs < now) this.lastSent.delete(id);
    if (ids.length === 0) return;
    for (const id of ids) {
      this.due.delete(id);
      this.lastSent.set(id, now);
    }
    const rows = await this.roster.progress(ids, FLAG_EVENT_TYPES);
    const byExam = new Map<number, RosterUpdate[]>();
    for (const r of rows) {
      const list = byExam.get(r.examId) ?? [];
      list.push({ attemptId: r.attemptId, student: { id: r.studentId }, answered: r.answered, flags: r.flags });
      byExam.set(r.examId, list);
    }
    for (const [examId, updates] of byExam) this.emit(examId, updates);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
  }
}
