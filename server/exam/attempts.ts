import type { FastifyBaseLogger } from 'fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
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
import type { ExamNotifier } from './notifier.js';
import type { ProctorLog } from './proctor-log.js';
import { viewForAttempt } from './question-set.js';

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

interface StartRow {
  exam_id: number;
  version: number;
  duration_seconds: number;
  grace_period_seconds: number;
  opens_at: string | null;
  closes_at: string | null;
  is_published: boolean;
  shuffle_questions: boolean;
  shuffle_options: boolean;
  enrollment_id: number | null;
  extra_time_seconds: number | null;
  attempt_id: number | null;
  status: AttemptStatusWire | null;
  started_at: string | null;
  deadline_at: string | null;
  db_now: string;
}

interface AttemptRow {
  id: number;
  exam_id: number;
  student_id: number;
  status: AttemptStatusWire;
  started_at: string;
  deadline_at: string;
  submitted_at: string | null;
  score: number | null;
  max_score: number | null;
}

// Raw statements return timestamps as ISO strings (MikroORM leaves date parsing to its own mapping).

/** Statement 1 of a start: the exam, the caller's enrollment and any attempt of theirs, in one trip. */
const START_SQL = `
select e.id as exam_id, e.version, e.duration_seconds, e.grace_period_seconds, e.opens_at, e.closes_at,
  e.is_published, e.shuffle_questions, e.shuffle_options,
  en.id as enrollment_id, en.extra_time_seconds,
  a.id as attempt_id, a.status, a.started_at, a.deadline_at,
  now() as db_now
from exams e
left join enrollments en on en.exam_id = e.id and en.student_id = ?
left join attempts a on a.exam_id = e.id and a.student_id = ?
where e.id = ?`;

/** Statement 2 of a first start. The deadline is set here, once: min(now + duration + extra, closesAt). */
const INSERT_ATTEMPT_SQL = `
insert into attempts (exam_id, student_id, status, started_at, deadline_at)
values (?, ?, 'in_progress', now(), least(now() + make_interval(secs => ?), coalesce(?::timestamptz, 'infinity')))
on conflict (exam_id, student_id) do nothing
returning id, started_at, deadline_at`;

/** The score of attempt `a`, from its stored answers and the key in the database. */
export const SCORE_SQL = `coalesce((select sum(q.points) from attempt_answers aa
  join options o on o.id = aa.option_id and o.question_id = aa.question_id and o.is_correct
  join questions q on q.id = aa.question_id
  where aa.attempt_id = a.id), 0)`;
export const MAX_SCORE_SQL = `(select coalesce(sum(q.points), 0) from questions q
  join sections s on s.id = q.section_id where s.exam_id = a.exam_id)`;

const ATTEMPT_COLUMNS = 'a.id, a.exam_id, a.student_id, a.status, a.started_at, a.deadline_at, a.submitted_at, a.score, a.max_score';

/** How an attempt is ended by someone: the student's submit, an invigilator's force-submit or termination. */
export type EndKind = 'submit' | 'force' | 'terminate';

export interface AttemptServiceDeps {
  orm: MikroORM;
  cache: QuestionCache;
  answers: AnswerWriter;
  proctor: ProctorLog;
  notifier: ExamNotifier;
  clock: DbClock;
  log: FastifyBaseLogger;
}

const iso = (d: Date) => d.toISOString();
const notFound = () => new AppError('NOT_FOUND', 'Attempt not found');

export function submitResult(row: AttemptRow): SubmitResult {
  return {
    attempt: {
      id: row.id,
      status: row.status,
      score: row.score,
      maxScore: row.max_score,
      submittedAt: row.submitted_at ? iso(new Date(row.submitted_at)) : null,
    },
  };
}

/** Starting, resuming, answering and ending attempts: the student's whole path, free of any transport. */
export class AttemptService {
  constructor(private readonly deps: AttemptServiceDeps) {}

  private execute<T>(sql: string, params: unknown[], em?: EntityManager): Promise<T[]> {
    const target = em ?? this.deps.orm.em;
    return target.getConnection().execute<T[]>(sql, params, 'all', em?.getTransactionContext());
  }

  /**
   * Starts the caller's attempt, or resumes the open one (same id, saved answers back). Two statements
   * with a warm question cache, whatever the exam's size.
   */
  async start(studentId: number, examId: number): Promise<{ result: AttemptStartResult; context: AttemptContext }> {
    const sentAt = Date.now();
    const [row] = await this.execute<StartRow>(START_SQL, [studentId, studentId, examId]);
    if (!row || !row.is_published) throw new AppError('NOT_FOUND', 'Exam not found');
    this.deps.clock.sample(new Date(row.db_now), sentAt);
    if (row.enrollment_id === null) throw new AppError('NOT_ENROLLED', 'You are not enrolled in this exam');

    let attemptId: number;
    let startedAt: Date;
    let deadlineAt: Date;
    let answers: AttemptStartResult['answers'] = [];
    if (row.attempt_id !== null) {
      if (row.status !== 'in_progress') {
        throw new AppError('ATTEMPT_CLOSED', `Your attempt has ended (${row.status})`);
      }
      attemptId = row.attempt_id;
      startedAt = new Date(row.started_at!);
      deadlineAt = new Date(row.deadline_at!);
      const saved = await this.execute<{ question_id: number; option_id: number | null; seq: number }>(
        'select question_id, option_id, seq from attempt_answers where attempt_id = ? order by question_id',
        [attemptId],
      );
      answers = saved.map((a) => ({ questionId: a.question_id, optionId: a.option_id, seq: a.seq }));
    } else {
      const now = new Date(row.db_now);
      const opensAt = row.opens_at ? new Date(row.opens_at) : null;
      const closesAt = row.closes_at ? new Date(row.closes_at) : null;
      if (opensAt && now < opensAt) throw new AppError('EXAM_NOT_OPEN', `The exam opens at ${iso(opensAt)}`);
      if (closesAt && now >= closesAt) throw new AppError('EXAM_NOT_OPEN', 'The exam has closed');
      const [created] = await this.execute<{ id: number; started_at: string; deadline_at: string }>(INSERT_ATTEMPT_SQL, [
        examId,
        studentId,
        row.duration_seconds + (row.extra_time_seconds ?? 0),
        closesAt ? iso(closesAt) : null,
      ]);
      // Lost a race with another tab of the same student: theirs is the attempt, resume it.
      if (!created) return this.start(studentId, examId);
      attemptId = created.id;
      startedAt = new Date(created.started_at);
      deadlineAt = new Date(created.deadline_at);
      this.deps.notifier.attemptStarted({ examId, attemptId, studentId, deadlineAt });
    }

    const cached = await this.deps.cache.get(examId, row.version);
    if (!cached) throw new AppError('NOT_FOUND', 'Exam not found');
    const context: AttemptContext = {
      attemptId,
      examId,
      studentId,
      version: row.version,
      status: 'in_progress',
      deadlineAt,
      graceMs: row.grace_period_seconds * 1000,
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
          shuffleQuestions: row.shuffle_questions,
          shuffleOptions: row.shuffle_options,
        }),
        answers,
      },
    };
  }

  /** The context of an attempt the caller owns (one statement); `NOT_FOUND` for anyone else's. */
  async context(studentId: number, attemptId: number): Promise<AttemptContext> {
    const [row] = await this.execute<AttemptRow & { version: number; grace_period_seconds: number }>(
      `select ${ATTEMPT_COLUMNS}, e.version, e.grace_period_seconds from attempts a join exams e on e.id = a.exam_id where a.id = ?`,
      [attemptId],
    );
    if (!row || row.student_id !== studentId) throw notFound();
    return {
      attemptId: row.id,
      examId: row.exam_id,
      studentId: row.student_id,
      version: row.version,
      status: row.status,
      deadlineAt: new Date(row.deadline_at),
      graceMs: row.grace_period_seconds * 1000,
    };
  }

  private assertOpen(ctx: AttemptContext): void {
    if (ctx.status !== 'in_progress') throw new AppError('ATTEMPT_CLOSED', `This attempt has ended (${ctx.status})`);
    if (this.deps.clock.nowMs() > ctx.deadlineAt.getTime() + ctx.graceMs) {
      throw new AppError('DEADLINE_PASSED', 'The time for this attempt is over');
    }
  }

  /** Stores an answer durably; resolves only once it is committed. */
  async answer(ctx: AttemptContext, payload: AnswerPayload): Promise<{ seq: number }> {
    this.assertOpen(ctx);
    const cached = await this.deps.cache.get(ctx.examId, ctx.version);
    const question = cached?.key.questions.get(payload.questionId);
    if (!question) throw new AppError('NOT_FOUND', 'No such question in this exam');
    if (payload.optionId !== null && !question.optionIds.has(payload.optionId)) {
      throw new AppError('NOT_FOUND', 'No such option for this question');
    }
    const outcome = await this.deps.answers.enqueue({
      attemptId: ctx.attemptId,
      questionId: payload.questionId,
      optionId: payload.optionId,
      seq: payload.seq,
      answeredAt: this.deps.clock.now(),
    });
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
   * the stored answers. Three statements beyond the flush. A student's submit after deadline + grace
   * counts as the deadline's auto-submit. `studentId` restricts it to the owner.
   */
  async end(
    attemptId: number,
    kind: EndKind,
    opts: { studentId?: number; actorId?: number; reason?: string } = {},
  ): Promise<{ result: SubmitResult; changed: boolean; row: AttemptRow }> {
    await this.deps.answers.flush();
    const outcome = await this.deps.orm.em.fork().transactional(async (em) => {
      const [locked] = await this.execute<AttemptRow & { past_grace: boolean }>(
        `select ${ATTEMPT_COLUMNS}, a.deadline_at + make_interval(secs => e.grace_period_seconds) < now() as past_grace
         from attempts a join exams e on e.id = a.exam_id where a.id = ? for update of a`,
        [attemptId],
        em,
      );
      if (!locked || (opts.studentId !== undefined && locked.student_id !== opts.studentId)) throw notFound();
      if (locked.status !== 'in_progress') return { row: locked, changed: false };
      const expired = kind === 'submit' && locked.past_grace;
      const status: AttemptStatusWire = expired ? 'expired' : kind === 'terminate' ? 'terminated' : 'submitted';
      const [row] = await this.execute<AttemptRow>(
        `update attempts a set status = ?, submitted_at = ${expired ? 'a.deadline_at' : 'now()'},
           score = ${SCORE_SQL}, max_score = ${MAX_SCORE_SQL}
         where a.id = ? returning ${ATTEMPT_COLUMNS}`,
        [status, attemptId],
        em,
      );
      return { row: row!, changed: true };
    });
    const { row, changed } = outcome;
    if (changed) {
      const reason = row.status === 'expired' ? 'deadline' : kind === 'submit' ? 'submitted' : kind === 'force' ? 'forced' : 'terminated';
      this.deps.notifier.attemptEnded({
        examId: row.exam_id,
        attemptId: row.id,
        studentId: row.student_id,
        status: row.status,
        reason: opts.reason && kind === 'terminate' ? opts.reason : reason,
      });
    }
    return { result: submitResult(row), changed, row };
  }
}
