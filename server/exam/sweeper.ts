import type { AttemptStore } from '../db/attempt-store.js';
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
        .catch((err: unknown) => this.log.error({ err }, 'deadline sweep failed'))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
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
