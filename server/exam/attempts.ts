import type { AnswerStore } from '../db/answer-store.js';
import type { ActionAuthor } from '../db/audit-store.js';
import type { AttemptRecord, AttemptStore } from '../db/attempt-store.js';
import type { QuestionCache } from '../cache/question-cache.js';
import { AppError } from '../errors.js';
import type {
  AnswerPayload,
  AttemptStartResult,
  AttemptStatusWire,
  ProctorEventPayload,
  SubmitResult,
} from '../protocol.js';
import type { AnswerWriter } from './answer-writer.js';
import type { DbClock } from './clock.js';
import type { Logger } from './logger.js';
import type { ExamNotifier } from './notifier.js';
import type { ProctorLog } from './proctor-log.js';
import { viewForAttempt, type QuestionSet } from './question-set.js';

/**
 * What a connection remembers of an attempt it has started or resumed: enough to check every later
 * event without a query. The database stays the authority (the answer statement re-checks status and
 * deadline); this is only the fast path.
 */
export interface AttemptContext {
  attemptId: number;
  examId: number;
  studentId: number;
  version: number;
  status: AttemptStatusWire;
  deadlineAt: Date;
  graceMs: number;
}

/** How an attempt is ended by someone: the student's submit, an invigilator's force-submit or termination. */
export type EndKind = 'submit' | 'force' | 'terminate';

export interface AttemptServiceDeps {
  attemptStore: AttemptStore;
  answerStore: AnswerStore;
  cache: QuestionCache<QuestionSet>;
  answers: AnswerWriter;
  proctor: ProctorLog;
  notifier: ExamNotifier;
  clock: DbClock;
  log: Logger;
}

const iso = (d: Date) => d.toISOString();
const notFound = () => new AppError('NOT_FOUND', 'Attempt not found');

export function submitResult(attempt: AttemptRecord): SubmitResult {
  return {
    attempt: {
      id: attempt.id,
      status: attempt.status,
      score: attempt.score,
      maxScore: attempt.maxScore,
      submittedAt: attempt.submittedAt ? iso(attempt.submittedAt) : null,
    },
  };
}

/** Starting, resuming, answering and ending attempts: the student's whole path, free of any transport. */
export class AttemptService {
  constructor(private readonly deps: AttemptServiceDeps) {}

  /**
   * Starts the caller's attempt, or resumes the open one (same id, saved answers back). Two statements
   * with a warm question cache, whatever the exam's size.
   */
  async start(studentId: number, examId: number): Promise<{ result: AttemptStartResult; context: AttemptContext }> {
    const sentAt = Date.now();
    const facts = await this.deps.attemptStore.startFacts(studentId, examId);
    if (!facts || !facts.exam.isPublished) throw new AppError('NOT_FOUND', 'Exam not found');
    this.deps.clock.sample(facts.dbNow, sentAt);
    if (facts.enrollment === null) throw new AppError('NOT_ENROLLED', 'You are not enrolled in this exam');
    const { exam } = facts;

    let attemptId: number;
    let startedAt: Date;
    let deadlineAt: Date;
    let answers: AttemptStartResult['answers'] = [];
    if (facts.attempt !== null) {
      if (facts.attempt.status !== 'in_progress') {
        throw new AppError('ATTEMPT_CLOSED', `Your attempt has ended (${facts.attempt.status})`);
      }
      ({ id: attemptId, startedAt, deadlineAt } = facts.attempt);
      answers = await this.deps.answerStore.saved(attemptId);
    } else {
      const now = facts.dbNow;
      if (exam.opensAt && now < exam.opensAt) throw new AppError('EXAM_NOT_OPEN', `The exam opens at ${iso(exam.opensAt)}`);
      if (exam.closesAt && now >= exam.closesAt) throw new AppError('EXAM_NOT_OPEN', 'The exam has closed');
      const created = await this.deps.attemptStore.create(
        examId,
        studentId,
        exam.durationSeconds + facts.enrollment.extraTimeSeconds,
        exam.closesAt,
      );
      // Lost a race with another tab of the same student: theirs is the attempt, resume it.
      if (!created) return this.start(studentId, examId);
      ({ id: attemptId, startedAt, deadlineAt } = created);
      this.deps.notifier.attemptStarted({ examId, attemptId, studentId, deadlineAt });
    }

    const cached = await this.deps.cache.get(examId, exam.version);
    if (!cached) throw new AppError('NOT_FOUND', 'Exam not found');
    const context: AttemptContext = {
      attemptId,
      examId,
      studentId,
      version: exam.version,
      status: 'in_progress',
      deadlineAt,
      graceMs: exam.gracePeriodSeconds * 1000,
    };
    return {
      context,
      result: {
        attempt: {
          id: attemptId,
          status: 'in_progress',
          startedAt: iso(startedAt),
          deadlineAt: iso(deadlineAt),
          serverNow: iso(this.deps.clock.now()),
        },
        exam: viewForAttempt(cached.view, attemptId, {
          shuffleQuestions: exam.shuffleQuestions,
          shuffleOptions: exam.shuffleOptions,
        }),
        answers,
      },
    };
  }

  /** The context of an attempt the caller owns (one statement); `NOT_FOUND` for anyone else's. */
  async context(studentId: number, attemptId: number): Promise<AttemptContext> {
    const attempt = await this.deps.attemptStore.find(attemptId);
    if (!attempt || attempt.studentId !== studentId) throw notFound();
    return {
      attemptId: attempt.id,
      examId: attempt.examId,
      studentId: attempt.studentId,
      version: attempt.examVersion,
      status: attempt.status,
      deadlineAt: attempt.deadlineAt,
      graceMs: attempt.gracePeriodSeconds * 1000,
    };
  }

  /**
   * Refuses an answer to an attempt that is over. An ended status is final, but a passed deadline is
   * only this node's memory of it, which a lost cross-node message (an extension) may have left
   * stale: the attempt is re-read from the database (one statement, and the context is corrected)
   * before an answer is refused for its deadline.
   */
  private async assertOpen(ctx: AttemptContext): Promise<void> {
    if (ctx.status !== 'in_progress') throw new AppError('ATTEMPT_CLOSED', `This attempt has ended (${ctx.status})`);
    if (this.deps.clock.nowMs() <= ctx.deadlineAt.getTime() + ctx.graceMs) return;
    const fresh = await this.deps.attemptStore.find(ctx.attemptId);
    if (fresh) {
      ctx.status = fresh.status;
      ctx.deadlineAt = fresh.deadlineAt;
    }
    if (ctx.status !== 'in_progress') throw new AppError('ATTEMPT_CLOSED', `This attempt has ended (${ctx.status})`);
    if (this.deps.clock.nowMs() > ctx.deadlineAt.getTime() + ctx.graceMs) {
      throw new AppError('DEADLINE_PASSED', 'The time for this attempt is over');
    }
  }

  /** Stores an answer durably; resolves only once it is committed. */
  async answer(ctx: AttemptContext, payload: AnswerPayload): Promise<{ seq: number }> {
    return (await this.admitAnswer(ctx, payload)).durable;
  }

  /**
   * Checks an answer and hands it to the writer, and resolves then, with `durable` for its commit.
   * Resolving means the answer is in the writer's buffer, so a submit that starts afterwards (and
   * flushes the buffer first) counts it: this is how a socket's answers sent before its submit are
   * never left out.
   */
  async admitAnswer(ctx: AttemptContext, payload: AnswerPayload): Promise<{ durable: Promise<{ seq: number }> }> {
    await this.assertOpen(ctx);
    const cached = await this.deps.cache.get(ctx.examId, ctx.version);
    const question = cached?.key.questions.get(payload.questionId);
    if (!question) throw new AppError('NOT_FOUND', 'No such question in this exam');
    if (payload.optionId !== null && !question.optionIds.has(payload.optionId)) {
      throw new AppError('NOT_FOUND', 'No such option for this question');
    }
    const written = this.deps.answers.enqueue({
      attemptId: ctx.attemptId,
      questionId: payload.questionId,
      optionId: payload.optionId,
      seq: payload.seq,
      answeredAt: this.deps.clock.now(),
    });
    const durable = written.then((outcome) => {
      switch (outcome) {
        case 'ok':
          this.deps.notifier.answerSaved({
            examId: ctx.examId,
            attemptId: ctx.attemptId,
            studentId: ctx.studentId,
            questionId: payload.questionId,
          });
          return { seq: payload.seq };
        case 'late':
          throw new AppError('DEADLINE_PASSED', 'The time for this attempt is over');
        case 'closed':
          ctx.status = 'submitted';
          throw new AppError('ATTEMPT_CLOSED', 'This attempt has ended');
        case 'missing':
          throw notFound();
      }
    });
    return { durable };
  }

  /** Records a proctoring signal from the student's browser in the audit log (batched) and tells the invigilators. */
  async proctorEvent(ctx: AttemptContext, payload: ProctorEventPayload): Promise<void> {
    if (ctx.status !== 'in_progress') throw new AppError('ATTEMPT_CLOSED', 'This attempt has ended');
    const at = this.deps.clock.now();
    const detail = payload.detail ?? null;
    await this.deps.proctor.record({
      examId: ctx.examId,
      attemptId: ctx.attemptId,
      actorId: ctx.studentId,
      type: payload.type,
      detail,
      at,
    });
    this.deps.notifier.proctorEvent({
      examId: ctx.examId,
      attemptId: ctx.attemptId,
      studentId: ctx.studentId,
      type: payload.type,
      detail,
      at,
    });
  }

  /**
   * Ends an attempt, idempotently: buffered answers are written first, then, in one transaction, the
   * attempt row is locked (so no answer can slip in between) and status, time and score are set from
   * the stored answers. Two statements beyond the flush. A student's submit after deadline + grace
   * counts as the deadline's auto-submit. `studentId` restricts it to the owner. `audit` (an
   * invigilator's action) is written in the same statement as the closing: both or neither.
   */
  async end(
    attemptId: number,
    kind: EndKind,
    opts: { studentId?: number; reason?: string; audit?: { type: string; detail: Record<string, unknown>; author: ActionAuthor } } = {},
  ): Promise<{ result: SubmitResult; changed: boolean; attempt: AttemptRecord }> {
    await this.deps.answers.flush();
    const outcome = await this.deps.attemptStore.close(attemptId, (locked) => {
      if (opts.studentId !== undefined && locked.studentId !== opts.studentId) throw notFound();
      if (locked.status !== 'in_progress') return null;
      const expired = kind === 'submit' && locked.pastGrace;
      const { audit } = opts;
      return {
        status: expired ? 'expired' : kind === 'terminate' ? 'terminated' : 'submitted',
        atDeadline: expired,
        // A submit that came after deadline + grace closes the attempt as the sweeper would, and is
        // recorded like the sweeper's auto-submit (the student's late try in the detail).
        auditType: audit?.type ?? (expired ? 'auto_submitted' : null),
        auditDetail: audit?.detail ?? (expired ? { trigger: 'late_submit' } : null),
        ...(audit ? { author: audit.author } : {}),
      };
    });
    if (!outcome) throw notFound();
    const { attempt, changed } = outcome;
    if (changed) {
      const reason = attempt.status === 'expired' ? 'deadline' : kind === 'submit' ? 'submitted' : kind === 'force' ? 'forced' : 'terminated';
      this.deps.notifier.attemptEnded({
        examId: attempt.examId,
        attemptId: attempt.id,
        studentId: attempt.studentId,
        status: attempt.status,
        reason: opts.reason && kind === 'terminate' ? opts.reason : reason,
      });
    }
    return { result: submitResult(attempt), changed, attempt };
  }
}
