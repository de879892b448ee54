import type { AttemptStore } from '../db/attempt-store.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import type { AnswerWriter } from './answer-writer.js';
import type { Logger } from './logger.js';
import type { ExamNotifier } from './notifier.js';

export interface SweeperOptions {
  /** Time between sweeps. @default 2000 */
  intervalMs: number;
  /** Attempts claimed per statement; a sweep repeats while it fills a batch. @default 500 */
  batchSize: number;
}

/**
 * Auto-submits attempts whose deadline + grace has passed, by the database's clock, whether or not any
 * browser is connected. Runs on every node; `FOR UPDATE SKIP LOCKED` hands each expired attempt to
 * exactly one of them (and skips one whose answer is being written this instant: next sweep). In one
 * transaction: claim, then set status `expired`, `submitted_at = deadline`, the score from the stored
 * answers, and an audit entry.
 */
export class DeadlineSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** Sweeps failed in a row because the database was unreachable (0: none, or the last one ran). */
  private failedInOutage = 0;
  private readonly opts: SweeperOptions;

  constructor(
    private readonly attempts: AttemptStore,
    private readonly answers: AnswerWriter,
    private readonly notifier: ExamNotifier,
    private readonly log: Logger,
    opts: Partial<SweeperOptions> = {},
  ) {
    this.opts = { intervalMs: 2000, batchSize: 500, ...opts };
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.sweep()
        .then(() => {
          if (this.failedInOutage === 0) return;
          this.log.warn({ failedSweeps: this.failedInOutage }, 'deadline sweep resumed: the database is reachable again');
          this.failedInOutage = 0;
        })
        .catch((err: unknown) => this.failed(err))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  /**
   * A database outage is one warning when it begins (and one when sweeping resumes), not an error
   * every interval: attempts overdue meanwhile are ended by the first sweep after it, at their
   * deadline. Any other failure is a bug and logged as an error each time.
   */
  private failed(err: unknown): void {
    if (!isDatabaseUnavailable(err)) {
      this.log.error({ err }, 'deadline sweep failed');
      return;
    }
    if (this.failedInOutage++ === 0) this.log.warn({ err }, 'deadline sweep paused: the database is unreachable; retrying every interval');
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep: claims and ends every overdue attempt, batch by batch. Returns how many it ended. */
  async sweep(): Promise<number> {
    // Answers already buffered here are written first (the database refuses what is too late).
    await this.answers.flush();
    let total = 0;
    for (;;) {
      const ended = await this.attempts.closeOverdue(this.opts.batchSize, { status: 'expired', atDeadline: true, auditType: 'auto_submitted' });
      for (const a of ended) {
        this.notifier.attemptEnded({
          examId: a.examId,
          attemptId: a.id,
          studentId: a.studentId,
          status: a.status,
          reason: 'deadline',
        });
      }
      total += ended.length;
      if (ended.length < this.opts.batchSize) return total;
    }
  }
}
