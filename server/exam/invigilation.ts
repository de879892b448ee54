import type { AttemptStore } from '../db/attempt-store.js';
import { DuplicateRequest, type ActionAuthor, type AuditStore, type RecordedAction } from '../db/audit-store.js';
import type { ExamStore } from '../db/exam-store.js';
import type { RosterQueries } from '../db/roster-queries.js';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import { FLAG_EVENT_TYPES, type AttemptStatusWire, type RosterRow } from '../protocol.js';
import { mayInvigilate } from './access.js';
import { submitResult, type AttemptService } from './attempts.js';
import type { DbClock } from './clock.js';
import type { ExamNotifier } from './notifier.js';

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
 * log with the acting user in the same statement or transaction as the action itself (both or
 * neither, before the ack), is idempotent with a client-chosen request id, and is pushed to the
 * students concerned after the commit.
 */
export class InvigilationService {
  constructor(
    private readonly deps: {
      attemptStore: AttemptStore;
      exams: ExamStore;
      roster: RosterQueries;
      attempts: AttemptService;
      auditStore: AuditStore;
      notifier: ExamNotifier;
      clock: DbClock;
    },
  ) {}

  /** Admins, or invigilators assigned to the exam; `FORBIDDEN` otherwise (also for a missing exam). */
  async authorizeExam(user: Invigilator, examId: number): Promise<void> {
    if (user.role === 'admin') {
      if (!(await this.deps.exams.title(examId))) throw new AppError('NOT_FOUND', 'Exam not found');
      return;
    }
    if (!(await mayInvigilate(this.deps.exams, user, examId))) throw new AppError('FORBIDDEN', 'You do not invigilate this exam');
  }

  /** The attempt, once the caller is known to be allowed to act on it. */
  private async authorizeAttempt(user: Invigilator, attemptId: number): Promise<AttemptScope> {
    const attempt = await this.deps.attemptStore.find(attemptId);
    if (!attempt) throw new AppError('NOT_FOUND', 'Attempt not found');
    if (!(await mayInvigilate(this.deps.exams, user, attempt.examId))) throw new AppError('FORBIDDEN', 'You do not invigilate this exam');
    return { attemptId: attempt.id, examId: attempt.examId, studentId: attempt.studentId, status: attempt.status };
  }

  /**
   * Every enrolled student (and anyone with an attempt) with status, progress, deadline and flags:
   * one statement whatever the class size. `connected` is filled in by the caller from presence.
   */
  async roster(examId: number): Promise<RosterRow[]> {
    const { participants, questionCount, dbNow } = await this.deps.roster.participants(examId, FLAG_EVENT_TYPES);
    return participants.map(({ student, extraTimeSeconds, attempt }) => ({
      attemptId: attempt?.id ?? null,
      student: { id: student.id, name: student.name },
      status: attempt?.status ?? 'not_started',
      connected: false,
      answered: attempt?.answered ?? 0,
      total: questionCount,
      deadlineAt: attempt ? attempt.deadlineAt.toISOString() : null,
      remainingMs: attempt?.status === 'in_progress' ? Math.max(0, attempt.deadlineAt.getTime() - dbNow.getTime()) : null,
      flags: attempt?.flags ?? 0,
      extraTimeSeconds,
    }));
  }

  /**
   * Runs an action whose audit entry is written in the same statement or transaction as the action
   * itself (both or neither). With a `requestId`, a retry is harmless: when the author's id is already
   * in the audit log (the action rolled back on the unique index) or the action finds nothing left to
   * do (the attempt ended, by the first request), the first request's result is returned instead.
   * An id used before for another action or target is `CONFLICT`.
   */
  private async idempotent<T>(
    user: Invigilator,
    requestId: string | undefined,
    target: { types: string[]; examId: number; attemptId: number | null },
    act: (author: ActionAuthor) => Promise<T>,
    replay: (prior: RecordedAction) => Promise<T> | T,
  ): Promise<T> {
    try {
      return await act({ actorId: user.id, requestId: requestId ?? null });
    } catch (err) {
      const retried = err instanceof DuplicateRequest || (err instanceof AppError && err.code === 'ATTEMPT_CLOSED');
      if (!requestId || !retried) throw err;
      const prior = await this.deps.auditStore.findAction(user.id, requestId);
      if (!prior) {
        if (err instanceof DuplicateRequest) throw new AppError('CONFLICT', 'This requestId was already used');
        throw err;
      }
      if (!target.types.includes(prior.type) || prior.examId !== target.examId || prior.attemptId !== target.attemptId) {
        throw new AppError('CONFLICT', 'This requestId was already used for another action');
      }
      return replay(prior);
    }
  }

  /** The result of an ending an attempt (terminate, force-submit) that already happened. */
  private async endedResult(attemptId: number) {
    const attempt = await this.deps.attemptStore.find(attemptId);
    if (!attempt) throw new AppError('NOT_FOUND', 'Attempt not found');
    return submitResult(attempt);
  }

  /**
   * Moves one attempt's deadline later, audited in the same statement; the student's timer follows
   * within a second, on any node.
   */
  async extendAttempt(user: Invigilator, attemptId: number, seconds: number, requestId?: string): Promise<{ deadlineAt: string }> {
    const scope = await this.authorizeAttempt(user, attemptId);
    return this.idempotent(
      user,
      requestId,
      { types: ['time_extended'], examId: scope.examId, attemptId },
      async (author) => {
        const deadlineAt = await this.deps.attemptStore.extend(attemptId, seconds, author);
        if (!deadlineAt) throw new AppError('ATTEMPT_CLOSED', 'This attempt has already ended');
        this.deps.notifier.deadlinesChanged(scope.examId, [{ attemptId, studentId: scope.studentId, deadlineAt }]);
        return { deadlineAt: deadlineAt.toISOString() };
      },
      (prior) => ({ deadlineAt: String(prior.detail?.['deadlineAt']) }),
    );
  }

  /** Moves the deadline of every attempt in progress of the exam, and audits it, in one statement. */
  async extendExam(user: Invigilator, examId: number, seconds: number, requestId?: string): Promise<{ extended: number }> {
    await this.authorizeExam(user, examId);
    return this.idempotent(
      user,
      requestId,
      { types: ['exam_time_extended'], examId, attemptId: null },
      async (author) => {
        const rows = await this.deps.attemptStore.extendExam(examId, seconds, author);
        if (rows.length) this.deps.notifier.deadlinesChanged(examId, rows);
        return { extended: rows.length };
      },
      (prior) => ({ extended: Number(prior.detail?.['attempts'] ?? 0) }),
    );
  }

  async message(user: Invigilator, attemptId: number, text: string, requestId?: string): Promise<void> {
    const scope = await this.authorizeAttempt(user, attemptId);
    await this.idempotent(
      user,
      requestId,
      { types: ['message'], examId: scope.examId, attemptId },
      async (author) => {
        await this.deps.auditStore.appendAction({ examId: scope.examId, attemptId, type: 'message', detail: { text }, ...author });
        this.deps.notifier.messageToAttempt({ examId: scope.examId, attemptId, text, from: user.name, at: this.deps.clock.now() });
      },
      () => undefined,
    );
  }

  async announce(user: Invigilator, examId: number, text: string, requestId?: string): Promise<void> {
    await this.authorizeExam(user, examId);
    await this.idempotent(
      user,
      requestId,
      { types: ['announcement'], examId, attemptId: null },
      async (author) => {
        await this.deps.auditStore.appendAction({ examId, attemptId: null, type: 'announcement', detail: { text }, ...author });
        this.deps.notifier.announce({ examId, text, from: user.name, at: this.deps.clock.now() });
      },
      () => undefined,
    );
  }

  /** Ends the attempt as terminated; the closing and its audit entry are one transaction. */
  async terminate(user: Invigilator, attemptId: number, reason: string, requestId?: string) {
    const scope = await this.authorizeAttempt(user, attemptId);
    return this.idempotent(
      user,
      requestId,
      { types: ['terminated'], examId: scope.examId, attemptId },
      async (author) => {
        const { result, changed } = await this.deps.attempts.end(attemptId, 'terminate', {
          reason,
          audit: { type: 'terminated', detail: { reason }, author },
        });
        if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
        return result;
      },
      () => this.endedResult(attemptId),
    );
  }

  /** Submits the attempt for the student; the closing and its audit entry are one transaction. */
  async forceSubmit(user: Invigilator, attemptId: number, requestId?: string) {
    const scope = await this.authorizeAttempt(user, attemptId);
    return this.idempotent(
      user,
      requestId,
      { types: ['force_submitted'], examId: scope.examId, attemptId },
      async (author) => {
        const { result, changed } = await this.deps.attempts.end(attemptId, 'force', {
          audit: { type: 'force_submitted', detail: {}, author },
        });
        if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
        return result;
      },
      () => this.endedResult(attemptId),
    );
  }
}
