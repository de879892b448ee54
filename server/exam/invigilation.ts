import type { AttemptStore } from '../db/attempt-store.js';
import type { ExamStore } from '../db/exam-store.js';
import type { RosterQueries } from '../db/roster-queries.js';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import { FLAG_EVENT_TYPES, type AttemptStatusWire, type RosterRow } from '../protocol.js';
import { mayInvigilate } from './access.js';
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
      attemptStore: AttemptStore;
      exams: ExamStore;
      roster: RosterQueries;
      attempts: AttemptService;
      audit: ProctorLog;
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

  private audit(user: Invigilator, examId: number, attemptId: number | null, type: string, detail: Record<string, unknown>) {
    return this.deps.audit.record({ examId, attemptId, actorId: user.id, type, detail, at: this.deps.clock.now() });
  }

  /** Moves one attempt's deadline later; the student's timer follows within a second, on any node. */
  async extendAttempt(user: Invigilator, attemptId: number, seconds: number): Promise<{ deadlineAt: string }> {
    const scope = await this.authorizeAttempt(user, attemptId);
    const deadlineAt = await this.deps.attemptStore.extend(attemptId, seconds);
    if (!deadlineAt) throw new AppError('ATTEMPT_CLOSED', 'This attempt has already ended');
    await this.audit(user, scope.examId, attemptId, 'time_extended', { seconds, deadlineAt: deadlineAt.toISOString() });
    this.deps.notifier.deadlinesChanged(scope.examId, [{ attemptId, studentId: scope.studentId, deadlineAt }]);
    return { deadlineAt: deadlineAt.toISOString() };
  }

  /** Moves the deadline of every attempt in progress of the exam, in one statement. */
  async extendExam(user: Invigilator, examId: number, seconds: number): Promise<{ extended: number }> {
    await this.authorizeExam(user, examId);
    const rows = await this.deps.attemptStore.extendExam(examId, seconds);
    await this.audit(user, examId, null, 'exam_time_extended', { seconds, attempts: rows.length });
    if (rows.length) {
      this.deps.notifier.deadlinesChanged(examId, rows);
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
    const { result, changed } = await this.deps.attempts.end(attemptId, 'terminate', { reason });
    if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
    await this.audit(user, scope.examId, attemptId, 'terminated', { reason });
    return result;
  }

  async forceSubmit(user: Invigilator, attemptId: number) {
    const scope = await this.authorizeAttempt(user, attemptId);
    const { result, changed } = await this.deps.attempts.end(attemptId, 'force');
    if (!changed) throw new AppError('ATTEMPT_CLOSED', `This attempt has already ended (${result.attempt.status})`);
    await this.audit(user, scope.examId, attemptId, 'force_submitted', {});
    return result;
  }
}
