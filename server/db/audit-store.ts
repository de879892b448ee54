import type { EntityManager } from '@mikro-orm/postgresql';
import { Attempt, Exam, ProctorEvent, User } from '../../entities/index.js';

/** One audit log entry as the domain writes it. */
export interface AuditRow {
  examId: number;
  attemptId: number | null;
  /** The user who acted; null for the system. */
  actorId: number | null;
  type: string;
  detail: Record<string, unknown> | null;
  at: Date;
}

/** The audit log (`proctor_events`). */
export class AuditStore {
  constructor(private readonly em: EntityManager) {}

  /**
   * Appends entries in one unit of work: one forked EntityManager, one flush, which MikroORM sends as
   * a multi-row INSERT. Volume is low next to answers, so the ORM's convenience costs nothing here.
   */
  async append(entries: readonly AuditRow[]): Promise<void> {
    const em = this.em.fork();
    for (const e of entries) {
      em.create(ProctorEvent, {
        exam: em.getReference(Exam, e.examId),
        attempt: e.attemptId === null ? null : em.getReference(Attempt, e.attemptId),
        actor: e.actorId === null ? null : em.getReference(User, e.actorId),
        type: e.type,
        detail: e.detail,
        at: e.at,
      });
    }
    await em.flush();
  }
}
