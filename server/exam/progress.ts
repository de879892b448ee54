import type { FastifyBaseLogger } from 'fastify';
import type { MikroORM } from '@mikro-orm/postgresql';
import { FLAG_EVENT_TYPES, type RosterUpdate } from '../protocol.js';

/**
 * Coalesces progress for the invigilators: attempts that changed (an answer saved, a flag raised) are
 * collected, and once per `intervalMs` one statement reads their answered and flag counts and one
 * `roster:update` per exam goes out. So a student produces at most one update per interval, and 2,000
 * students answering cost one query a second, not 2,000 messages.
 */
export class ProgressTracker {
  private readonly dirty = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly orm: MikroORM,
    /** Receives one exam's progress rows (answered and flag counts). */
    private readonly emit: (examId: number, updates: RosterUpdate[]) => void,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = 1000,
  ) {}

  touch(attemptId: number): void {
    this.dirty.add(attemptId);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.flushing = this.flush()
        .catch((err: unknown) => this.log.warn({ err }, 'progress update failed'))
        .finally(() => {
          this.timer = null;
          this.flushing = null;
          if (this.dirty.size > 0) this.schedule();
        });
    }, this.intervalMs);
  }

  async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    const rows = await this.orm.em.getConnection().execute<
      { id: number; exam_id: number; student_id: number; answered: string; flags: string }[]
    >(
      `select a.id, a.exam_id, a.student_id,
         (select count(*) from attempt_answers aa where aa.attempt_id = a.id and aa.option_id is not null) as answered,
         (select count(*) from proctor_events pe where pe.attempt_id = a.id and pe.type = any(?::text[])) as flags
       from attempts a where a.id = any(?::int[])`,
      [`{${FLAG_EVENT_TYPES.join(',')}}`, `{${ids.join(',')}}`],
    );
    const byExam = new Map<number, RosterUpdate[]>();
    for (const r of rows) {
      const list = byExam.get(r.exam_id) ?? [];
      list.push({ attemptId: r.id, student: { id: r.student_id }, answered: Number(r.answered), flags: Number(r.flags) });
      byExam.set(r.exam_id, list);
    }
    for (const [examId, updates] of byExam) this.emit(examId, updates);
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.flushing;
    this.timer = null;
  }
}
