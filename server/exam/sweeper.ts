import type { FastifyBaseLogger } from 'fastify';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AttemptStatusWire } from '../protocol.js';
import { MAX_SCORE_SQL, SCORE_SQL } from './attempts.js';
import type { AnswerWriter } from './answer-writer.js';
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
    private readonly orm: MikroORM,
    private readonly answers: AnswerWriter,
    private readonly notifier: ExamNotifier,
    private readonly log: FastifyBaseLogger,
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
      const ended = await this.orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const claimed = await conn.execute<{ id: number }[]>(
          `select a.id from attempts a join exams e on e.id = a.exam_id
           where a.status = 'in_progress' and a.deadline_at < now()
             and a.deadline_at + make_interval(secs => e.grace_period_seconds) < now()
           order by a.deadline_at limit ?
           for update of a skip locked`,
          [this.opts.batchSize],
          'all',
          ctx,
        );
        if (claimed.length === 0) return [];
        return conn.execute<{ id: number; exam_id: number; student_id: number; status: AttemptStatusWire }[]>(
          `with ended as (
             update attempts a set status = 'expired', submitted_at = a.deadline_at,
               score = ${SCORE_SQL}, max_score = ${MAX_SCORE_SQL}
             where a.id = any(?::int[])
             returning a.id, a.exam_id, a.student_id, a.status
           ), audit as (
             insert into proctor_events (exam_id, attempt_id, type, detail, at, actor_id)
             select exam_id, id, 'auto_submitted', null, now(), null from ended
           )
           select * from ended`,
          [`{${claimed.map((c) => c.id).join(',')}}`],
          'all',
          ctx,
        );
      });
      for (const a of ended) {
        this.notifier.attemptEnded({
          examId: a.exam_id,
          attemptId: a.id,
          studentId: a.student_id,
          status: a.status,
          reason: 'deadline',
        });
      }
      total += ended.length;
      if (ended.length < this.opts.batchSize) return total;
    }
  }
}
