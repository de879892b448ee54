import type { AnswerStore } from '../db/answer-store.js';
import type { AttemptStore } from '../db/attempt-store.js';
import type { ExamStore } from '../db/exam-store.js';
import type { RosterQueries } from '../db/roster-queries.js';
import { AppError } from '../errors.js';
import { FLAG_EVENT_TYPES, type AttemptStatusWire } from '../protocol.js';
import { mayInvigilate, type Caller } from './access.js';

export interface AttemptResult {
  attempt: {
    id: number;
    examId: number;
    status: AttemptStatusWire;
    score: number | null;
    maxScore: number | null;
    startedAt: string;
    deadlineAt: string;
    submittedAt: string | null;
  };
  /** False while the exam's results-release rule holds per-question correctness back from its student. */
  released: boolean;
  answers: { questionId: number; optionId: number | null; correct: boolean }[];
}

export interface MyAttempt {
  id: number;
  examId: number;
  status: AttemptStatusWire;
  startedAt: string;
  deadlineAt: string;
  submittedAt: string | null;
  score: number | null;
  maxScore: number | null;
}

export interface ExamResultRow {
  student: { id: number; name: string; email: string };
  attemptId: number | null;
  status: AttemptStatusWire | 'not_started';
  score: number | null;
  maxScore: number | null;
  answered: number;
  startedAt: string | null;
  submittedAt: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Results: one attempt's, for its student or the exam's invigilators, and a whole exam's. */
export class ResultService {
  constructor(
    private readonly deps: { attempts: AttemptStore; answers: AnswerStore; exams: ExamStore; roster: RosterQueries },
  ) {}

  /**
   * One attempt's result with a per-question outcome: two statements (three for an invigilator). A
   * student sees only their own, and only once it has ended; anyone else's is `NOT_FOUND`, exactly
   * like a missing id.
   */
  /** A student's own attempts, for their exam list: scores only once each attempt has ended. */
  async myAttempts(studentId: number): Promise<MyAttempt[]> {
    const attempts = await this.deps.attempts.listByStudent(studentId);
    return attempts.map((a) => ({
      id: a.id,
      examId: a.examId,
      status: a.status,
      startedAt: a.startedAt.toISOString(),
      deadlineAt: a.deadlineAt.toISOString(),
      submittedAt: iso(a.submittedAt),
      score: a.status === 'in_progress' ? null : a.score,
      maxScore: a.status === 'in_progress' ? null : a.maxScore,
    }));
  }

  async attemptResult(user: Caller, attemptId: number): Promise<AttemptResult> {
    const a = await this.deps.attempts.find(attemptId);
    const missing = new AppError('NOT_FOUND', 'Attempt not found');
    if (!a) throw missing;
    if (user.role === 'student') {
      if (a.studentId !== user.id) throw missing;
      if (a.status === 'in_progress') throw new AppError('CONFLICT', 'Results are available once the attempt has ended');
    } else if (!(await mayInvigilate(this.deps.exams, user, a.examId))) {
      throw missing;
    }
    // Staff always see the marking; a student once the exam's rule releases it (while classmates may
    // still be sitting the exam, which answers were right stays on the server).
    const released = user.role !== 'student' || a.resultsReleased;
    const answers = released ? await this.deps.answers.marked(attemptId) : [];
    return {
      attempt: {
        id: a.id,
        examId: a.examId,
        status: a.status,
        score: a.score,
        maxScore: a.maxScore,
        startedAt: a.startedAt.toISOString(),
        deadlineAt: a.deadlineAt.toISOString(),
        submittedAt: iso(a.submittedAt),
      },
      released,
      answers,
    };
  }

  /** Every student of an exam (enrolled, or with an attempt) with their outcome. */
  async examResults(user: Caller, examId: number): Promise<{ exam: { id: number; title: string }; results: ExamResultRow[] }> {
    if (!(await mayInvigilate(this.deps.exams, user, examId))) throw new AppError('NOT_FOUND', 'Exam not found');
    const exam = await this.deps.exams.title(examId);
    if (!exam) throw new AppError('NOT_FOUND', 'Exam not found');
    const { participants } = await this.deps.roster.participants(examId, FLAG_EVENT_TYPES);
    return {
      exam,
      results: participants.map(({ student, attempt }) => ({
        student,
        attemptId: attempt?.id ?? null,
        status: attempt?.status ?? 'not_started',
        score: attempt?.score ?? null,
        maxScore: attempt?.maxScore ?? null,
        answered: attempt?.answered ?? 0,
        startedAt: iso(attempt?.startedAt ?? null),
        submittedAt: iso(attempt?.submittedAt ?? null),
      })),
    };
  }
}
