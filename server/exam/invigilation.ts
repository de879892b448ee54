import type { MikroORM } from '@mikro-orm/postgresql';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import { FLAG_EVENT_TYPES, type AttemptStatusWire, type RosterRow } from '../protocol.js';
import type { AttemptService } from './attempts.js';
import type { DbClock } from './clock.js';
import type { ExamNotifier } from './notifier.js';
import type { ProctorLog } from './proctor-log.js';

export interface Invigilator {
  id: number;
  role: Role;
  name: string;
}

interface AttemptScope {
  attemptId: number;
  examId: number;
  studentId: number;
  status: AttemptStatusWire;
}

/**
 * What invigilators see and do: the roster of an exam and the actions on it. Every action checks that
 * the caller may act on that exam (on every call, not once per connection), is written to the audit
 * log with the acting user before it is acknowledged, and is pushed to the students concerned.
 */
export class InvigilationService {
  constructor(
    private readonly deps: {
      orm: MikroORM;
      attempts: AttemptService;
      audit: ProctorLog;
      notifier: ExamNotifier;
      clock: DbClock;
    },
  ) {}

  private execute<T>(sql: string, params: unknown[]): Promise<T[]> {
    return this.deps.orm.em.getConnection().execute<T[]>(sql, params);
  }

  /** Admins, or invigilators assigned to the exam; `FORBIDDEN` otherwise (also for a missing exam). */
  async authorizeExam(user: Invigilator, examId: number): Promise<void> {
    if (user.role === 'admin') {
      const [row] = await this.execute<{ id: number }>('select id from exams where id = ?', [examId]);
      if (!row) throw new AppError('NOT_FOUND', 'Exam not found');
      return;
    }
    const [row] = await this.execute<{ assigned: boolean }>(
      'select exists(select 1 from exam_invigilators where exam_id = ? and invigilator_id = ?) as assigned',
      [examId, user.id],
    );
    if (user.role !== 'invigilator' || !row?.assigned) throw new AppError('FORBIDDEN', 'You do not invigilate this exam');
  }

  /** The attempt and whether the caller may act on it, in one statement. */
  private async authorizeAttempt(user: Invigilator, attemptId: number): Promise<AttemptScope> {
    const [row] = await this.execute<{ id: number; exam_id: number; student_id: number; status: AttemptStatusWire; assigned: boolean }>(
      `select a.id, a.exam_id, a.student_id, a.status,
         exists(select 1 from exam_invigilators ei where ei.exam_id = a.exam_id and ei.invigilator_id = ?) as assigned
       from attempts a where a.id = ?`,
      [user.id, attemptId],
    );
    if (!row) throw new AppError('NOT_FOUND', 'Attempt not found');
    if (user.role !== 'admin' && !(user.role === 'invigilator' && row.assigned)) {
      throw new AppError('FORBIDDEN', 'You do not invigilate this exam');
    }
    return { attemptId: row.id, examId: row.exam_id, studentId: row.student_id, status: row.status };
  }

  /**
   * Every enrolled student (and anyone with an attempt) with status, progress, deadline and flags:
   * one statement whatever the class size. `connected` is filled in by the caller from presence.
   */
  async roster(examId: number): Promise<RosterRow[]> {
    const rows = await this.execute<{
      student_id: number;
      name: string;
      extra_time_seconds: number | null;
      attempt_id: number | null;
      status: AttemptStatusWire | null;
      deadline_at: string | null;
      answered: string;
      flags: string;
      total: string;
      db_now: string;
    }>(
      `select u.id as student_id, u.name, en.extra_time_seconds, a.id as attempt_id, a.status, a.deadline_at,
         (select count(*) from attempt_answers aa where aa.attempt_id = a.id and aa.option_id is not null) as answered,
         (select count(*) from proctor_events pe where pe.attempt_id = a.id and pe.type = any(?::text[])) as flags,
         (select count(*) from questions q join sections s on s.id = q.section_id where s.exam_id = ?) as total,
         now() as db_now
       from (select student_id from enrollments where exam_id = ? union select student_id from attempts where exam_id = ?) p
       join users u on u.id = p.student_id
       left join enrollments en on en.exam_id = ? and en.student_id = p.student_id
       left join attempts a on a.exam_id = ? and a.student_id = p.student_id
       order by u.name, u.id`,
      [`{${FLAG_EVENT_TYPES.join(',')}}`, examId, examId, examId, examId, examId],
    );
    return rows.map((r) => {
      const deadline = r.deadline_at ? new Date(r.deadline_at) : null;
      return {
        attemptId: r.attempt_id,
        student: { id: r.student_id, name: r.name },
        status: r.status ?? 'not_started',
        connected: false,
        answered: Number(r.answered),
        total: Number(r.total),
        deadlineAt: deadline ? deadline.toISOString() : null,
        remainingMs: deadline && r.status === 'in_progress' ? Math.max(0, deadline.getTime() - new Date(r.db_now).getTime()) : null,
        flags: Number(r.flags),
        extraTimeSeconds: r.extra_time_seconds ?? 0,
      };
    });
  }

  private audit(user: Invigilator, examId: number, attemptId: number | null, type: string, detail: Record<string, unknown>) {
    return this.deps.audit.record({ examId, attemptId, actorId: user.id, type, detail, at: this.deps.clock.now() });
  }

  /** Moves one attempt's deadline later; the student's timer follows within a second, on any node. */
  async extendAttempt(user: Invigilator, attemptId: number, seconds: number): Promise<{ deadlineAt: string }> {
    const scope = await this.authorizeAttempt(user, attemptId);
    const [row] = await this.execute<{ deadline_at: string }>(
      `update attempts set deadline_at = deadline_at + make_interval(secs => ?) where id = ? and status = 'in_progress' returning deadline_at`,
      [seconds, attemptId],
    );
    if (!row) throw new AppError('ATTEMPT_CLOSED', 'This attempt has already ended');
    const deadlineAt = new Date(row.deadline_at);
    await this.audit(user, scope.examId, attemptId, 'time_extended', { seconds, deadlineAt: deadlineAt.toISOString() });
    this.deps.notifier.deadlinesChanged(scope.examId, [{ attemptId, studentId: scope.studentId, deadlineAt }]);
    return { deadlineAt: deadlineAt.toISOString() };
  }

  /** Moves the deadline of every attempt in progress of the exam, in one statement. */
  async extendExam(user: Invigilator, examId: number, seconds: number): Promise<{ extended: number }> {
    await this.authorizeExam(user, examId);
    const rows = await this.execute<{ id: number; student_id: number; deadline_at: string }>(
      `update attempts set deadline_at = deadline_at + make_interval(secs => ?)
       where exam_id = ? and status = 'in_progress' returning id, student_id, deadline_at`,
      [seconds, examId],
    );
    await this.audit(user, examId, null, 'exam_time_extended', { seconds, attempts: rows.length });
    if (rows.length) {
      this.deps.notifier.deadlinesChanged(
        examId,
        rows.map((r) => ({ attemptId: r.id, studentId: r.student_id, deadlineAt: new Date(r.deadline_at) })),
      );
    }
    return { extended: rows.length };
  }

  async message(user: Invigilator, attemptId: number, text: string): Promise<void> {
    const scope = await this.authorizeAttempt(user, attemptId);
    await this.audit(user, scope.examId, attemptId, 'message', { text });
    this.deps.notifier.messageToAttempt({ examId: scope.examId, attemptId, text, from: user.name, at: this.deps.clock.now() });
  }

  async announce(user: Invigilator, examId: number, text: string): Promise<void> {
    await this.authorizeExam(user, examId);
    await this.audit(user, examId, null, 'announcement', { text });
    this.deps.notifier.announce({ examId, text, from: user.name, at: this.deps.clock.now() });
  }

  async terminate(user: Invigilator, attemptId: number, reason: string) {
    const scope = await this.authorizeAttempt(user, attemptId);
    const { result, changed } = await this.deps.attempts.end(attemptId, 'terminate', { actorId: user.id, reason });
    if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
    await this.audit(user, scope.examId, attemptId, 'terminated', { reason });
    return result;
  }

  async forceSubmit(user: Invigilator, attemptId: number) {
    const scope = await this.authorizeAttempt(user, attemptId);
    const { result, changed } = await this.deps.attempts.end(attemptId, 'force', { actorId: user.id });
    if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
    await this.audit(user, scope.examId, attemptId, 'force_submitted', {});
    return result;
  }
}
