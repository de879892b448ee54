import type { EntityManager } from '@mikro-orm/postgresql';
import type { AttemptStatus } from '../../entities/attempt.js';
import { rethrowDuplicateRequest, type ActionAuthor } from './audit-store.js';
import { query, toDate, toDateOrNull } from './sql.js';

/** One attempt row, as the domain reads it. */
export interface AttemptRecord {
  id: number;
  examId: number;
  studentId: number;
  status: AttemptStatus;
  startedAt: Date;
  deadlineAt: Date;
  submittedAt: Date | null;
  score: number | null;
  maxScore: number | null;
}

/** An attempt with what its exam says about it: the version of its question set and the grace period. */
export interface AttemptWithExam extends AttemptRecord {
  examVersion: number;
  gracePeriodSeconds: number;
  /** Whether the exam's results-release rule lets students see per-question correctness now (database clock). */
  resultsReleased: boolean;
}

/** Everything a start decides on, read in one statement: the exam, the caller's enrollment and attempt. */
export interface StartFacts {
  exam: {
    id: number;
    version: number;
    durationSeconds: number;
    gracePeriodSeconds: number;
    opensAt: Date | null;
    closesAt: Date | null;
    isPublished: boolean;
    shuffleQuestions: boolean;
    shuffleOptions: boolean;
  };
  enrollment: { extraTimeSeconds: number } | null;
  attempt: { id: number; status: AttemptStatus; startedAt: Date; deadlineAt: Date } | null;
  /** The database's clock when it answered. */
  dbNow: Date;
}

/** How an attempt is closed: its final status, when it counts as submitted, and what the audit log says (if anything). */
export interface Closing {
  status: Exclude<AttemptStatus, 'in_progress'>;
  /** True: `submitted_at` is the deadline (a late submit or an auto-submit); false: now. */
  atDeadline: boolean;
  /** A `proctor_events` entry written in the same statement; by the system unless `author` says who. */
  auditType: string | null;
  /** The audit entry's detail. @default null */
  auditDetail?: Record<string, unknown> | null;
  /** Who acted (an invigilator), with the request's id; absent for the system. */
  author?: ActionAuthor;
}

type Timestamp = string | Date;

interface AttemptRow {
  id: number;
  exam_id: number;
  student_id: number;
  status: AttemptStatus;
  started_at: Timestamp;
  deadline_at: Timestamp;
  submitted_at: Timestamp | null;
  score: number | null;
  max_score: number | null;
}

const ATTEMPT_COLUMNS = 'a.id, a.exam_id, a.student_id, a.status, a.started_at, a.deadline_at, a.submitted_at, a.score, a.max_score';

const toRecord = (r: AttemptRow): AttemptRecord => ({
  id: r.id,
  examId: r.exam_id,
  studentId: r.student_id,
  status: r.status,
  startedAt: toDate(r.started_at),
  deadlineAt: toDate(r.deadline_at),
  submittedAt: toDateOrNull(r.submitted_at),
  score: r.score,
  maxScore: r.max_score,
});

/** Statement 1 of a start: the exam, the caller's enrollment and any attempt of theirs, in one trip. */
const START_FACTS = `
select e.id as exam_id, e.version, e.duration_seconds, e.grace_period_seconds, e.opens_at, e.closes_at,
  e.is_published, e.shuffle_questions, e.shuffle_options,
  en.id as enrollment_id, en.extra_time_seconds,
  a.id as attempt_id, a.status, a.started_at, a.deadline_at,
  now() as db_now
from exams e
left join enrollments en on en.exam_id = e.id and en.student_id = $1
left join attempts a on a.exam_id = e.id and a.student_id = $1
where e.id = $2`;

/** Statement 2 of a first start. The deadline is set here, once: min(now + duration + extra, closesAt). */
const CREATE_ATTEMPT = `
insert into attempts (exam_id, student_id, status, started_at, deadline_at)
values ($1, $2, 'in_progress', now(), least(now() + make_interval(secs => $3), coalesce($4::timestamptz, 'infinity')))
on conflict (exam_id, student_id) do nothing
returning id, started_at, deadline_at`;

const ATTEMPT_WITH_EXAM = `
select ${ATTEMPT_COLUMNS}, e.version, e.grace_period_seconds,
  a.deadline_at + make_interval(secs => e.grace_period_seconds) < now() as past_grace,
  (e.results_release = 'immediate' or e.results_released_at <= now()
    or (e.results_release = 'window_close' and e.closes_at <= now())) is true as results_released
from attempts a join exams e on e.id = a.exam_id where a.id = $1`;

/**
 * Closes attempts still in progress: status, submission time, and the score from the stored answers
 * against the key in the database; optionally an audit entry per attempt, in the same statement.
 * The one place an attempt is scored (student's submit, invigilator's force-submit or termination,
 * deadline sweep).
 */
const CLOSE_ATTEMPTS = `
with closed as (
  update attempts a set status = $1, submitted_at = case when $2 then a.deadline_at else now() end,
    score = coalesce((select sum(q.points) from attempt_answers aa
      join options o on o.id = aa.option_id and o.question_id = aa.question_id and o.is_correct
      join questions q on q.id = aa.question_id
      where aa.attempt_id = a.id), 0),
    max_score = (select coalesce(sum(q.points), 0) from questions q
      join sections s on s.id = q.section_id where s.exam_id = a.exam_id)
  where a.id = any($3::int[]) and a.status = 'in_progress'
  returning ${ATTEMPT_COLUMNS}
), audit as (
  insert into proctor_events (exam_id, attempt_id, type, detail, at, actor_id, request_id)
  select c.exam_id, c.id, $4::text, $5::jsonb, now(), $6::int, $7::text from closed c where $4::text is not null
)
select * from closed`;

/** Claims overdue attempts (deadline + grace passed, by the database's clock) for one node: SKIP LOCKED. */
const CLAIM_OVERDUE = `
select a.id from attempts a join exams e on e.id = a.exam_id
where a.status = 'in_progress' and a.deadline_at < now()
  and a.deadline_at + make_interval(secs => e.grace_period_seconds) < now()
order by a.deadline_at limit $1
for update of a skip locked`;

/** The deadline as the wire writes it (milliseconds, UTC), for the audit entry: the driver truncates to milliseconds too. */
const ISO = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * An extension and its audit entry in one statement (so one atomic unit: both or neither). An attempt
 * no longer in progress is not extended and nothing is audited.
 */
const EXTEND_ATTEMPT = `
with ext as (
  update attempts set deadline_at = deadline_at + make_interval(secs => $1)
  where id = $2 and status = 'in_progress' returning id, exam_id, student_id, deadline_at
), audit as (
  insert into proctor_events (exam_id, attempt_id, type, detail, at, actor_id, request_id)
  select e.exam_id, e.id, 'time_extended', jsonb_build_object('seconds', $1::int, 'deadlineAt', ${ISO('e.deadline_at')}), now(), $3, $4
  from ext e
)
select id, student_id, deadline_at from ext`;

/** Every attempt of the exam in progress, extended, and one audit entry for the exam (even for none), in one statement. */
const EXTEND_EXAM = `
with ext as (
  update attempts set deadline_at = deadline_at + make_interval(secs => $1)
  where exam_id = $2 and status = 'in_progress' returning id, student_id, deadline_at
), audit as (
  insert into proctor_events (exam_id, attempt_id, type, detail, at, actor_id, request_id)
  select $2, null, 'exam_time_extended', jsonb_build_object('seconds', $1::int, 'attempts', (select count(*) from ext)), now(), $3, $4
)
select id, student_id, deadline_at from ext`;

const ATTEMPT_STATES = `select id, status, deadline_at from attempts where id = any($1::int[])`;

/** Attempts: their start, their context, their deadline, their end. Each statement here is written once. */
export class AttemptStore {
  constructor(private readonly em: EntityManager) {}

  async startFacts(studentId: number, examId: number): Promise<StartFacts | null> {
    const [r] = await query<{
      exam_id: number;
      version: number;
      duration_seconds: number;
      grace_period_seconds: number;
      opens_at: Timestamp | null;
      closes_at: Timestamp | null;
      is_published: boolean;
      shuffle_questions: boolean;
      shuffle_options: boolean;
      enrollment_id: number | null;
      extra_time_seconds: number | null;
      attempt_id: number | null;
      status: AttemptStatus | null;
      started_at: Timestamp | null;
      deadline_at: Timestamp | null;
      db_now: Timestamp;
    }>(this.em.fork(), START_FACTS, [studentId, examId]);
    if (!r) return null;
    return {
      exam: {
        id: r.exam_id,
        version: r.version,
        durationSeconds: r.duration_seconds,
        gracePeriodSeconds: r.grace_period_seconds,
        opensAt: toDateOrNull(r.opens_at),
        closesAt: toDateOrNull(r.closes_at),
        isPublished: r.is_published,
        shuffleQuestions: r.shuffle_questions,
        shuffleOptions: r.shuffle_options,
      },
      enrollment: r.enrollment_id === null ? null : { extraTimeSeconds: r.extra_time_seconds ?? 0 },
      attempt:
        r.attempt_id === null
          ? null
          : { id: r.attempt_id, status: r.status!, startedAt: toDate(r.started_at!), deadlineAt: toDate(r.deadline_at!) },
      dbNow: toDate(r.db_now),
    };
  }

  /** Creates the attempt with its deadline; null when the student already has one (a race with another tab). */
  async create(
    examId: number,
    studentId: number,
    seconds: number,
    closesAt: Date | null,
  ): Promise<{ id: number; startedAt: Date; deadlineAt: Date } | null> {
    const [r] = await query<{ id: number; started_at: Timestamp; deadline_at: Timestamp }>(this.em.fork(), CREATE_ATTEMPT, [
      examId,
      studentId,
      seconds,
      closesAt,
    ]);
    return r ? { id: r.id, startedAt: toDate(r.started_at), deadlineAt: toDate(r.deadline_at) } : null;
  }

  /** Status and deadline of each of `attemptIds` as the database has them now (one statement; missing ids are left out). */
  async states(attemptIds: readonly number[]): Promise<Map<number, { status: AttemptStatus; deadlineAt: Date }>> {
    if (attemptIds.length === 0) return new Map();
    const rows = await query<{ id: number; status: AttemptStatus; deadline_at: Timestamp }>(this.em.fork(), ATTEMPT_STATES, [[...attemptIds]]);
    return new Map(rows.map((r) => [r.id, { status: r.status, deadlineAt: toDate(r.deadline_at) }]));
  }

  /** One attempt with its exam's version and grace period. */
  /** Every attempt of one student, oldest first (the student's own exam list). */
  async listByStudent(studentId: number): Promise<AttemptRecord[]> {
    const rows = await query<AttemptRow>(this.em.fork(), `select ${ATTEMPT_COLUMNS} from attempts a where a.student_id = $1 order by a.id`, [studentId]);
    return rows.map(toRecord);
  }

  async find(attemptId: number): Promise<AttemptWithExam | null> {
    const [r] = await query<AttemptRow & { version: number; grace_period_seconds: number; results_released: boolean }>(
      this.em.fork(),
      ATTEMPT_WITH_EXAM,
      [attemptId],
    );
    return r
      ? { ...toRecord(r), examVersion: r.version, gracePeriodSeconds: r.grace_period_seconds, resultsReleased: r.results_released }
      : null;
  }

  /**
   * Ends one attempt in one transaction: the row is locked (`FOR UPDATE`: no answer batch can slip in
   * between), `decide` looks at it (with whether deadline + grace has passed, by the database's clock)
   * and says how to close it, or null to leave it as it is. Two statements plus BEGIN/COMMIT.
   */
  async close(
    attemptId: number,
    decide: (locked: AttemptRecord & { pastGrace: boolean }) => Closing | null,
  ): Promise<{ attempt: AttemptRecord; changed: boolean } | null> {
    return this.em.fork().transactional(async (em) => {
      const [r] = await query<AttemptRow & { past_grace: boolean }>(em, `${ATTEMPT_WITH_EXAM} for update of a`, [attemptId]);
      if (!r) return null;
      const locked = toRecord(r);
      const closing = decide({ ...locked, pastGrace: r.past_grace });
      if (!closing) return { attempt: locked, changed: false };
      const [closed] = await this.closeAll(em, [attemptId], closing);
      return closed ? { attempt: closed, changed: true } : { attempt: locked, changed: false };
    });
  }

  /**
   * Claims up to `limit` attempts past deadline + grace that no other node holds, and closes them as
   * `closing` says, in one transaction. Returns the attempts it closed.
   */
  async closeOverdue(limit: number, closing: Closing): Promise<AttemptRecord[]> {
    return this.em.fork().transactional(async (em) => {
      const claimed = await query<{ id: number }>(em, CLAIM_OVERDUE, [limit]);
      if (claimed.length === 0) return [];
      return this.closeAll(em, claimed.map((c) => c.id), closing);
    });
  }

  private async closeAll(em: EntityManager, attemptIds: number[], closing: Closing): Promise<AttemptRecord[]> {
    const rows = await query<AttemptRow>(em, CLOSE_ATTEMPTS, [
      closing.status,
      closing.atDeadline,
      attemptIds,
      closing.auditType,
      closing.auditDetail ? JSON.stringify(closing.auditDetail) : null,
      closing.author?.actorId ?? null,
      closing.author?.requestId ?? null,
    ]).catch(rethrowDuplicateRequest);
    return rows.map(toRecord);
  }

  /**
   * Moves one attempt's deadline later and audits it (`time_extended` by `author`), atomically in one
   * statement; null when it is no longer in progress (nothing audited). Throws `DuplicateRequest`
   * (nothing done) when the author's request id is already in the audit log.
   */
  async extend(attemptId: number, seconds: number, author: ActionAuthor): Promise<Date | null> {
    const [r] = await query<{ deadline_at: Timestamp }>(this.em.fork(), EXTEND_ATTEMPT, [
      seconds,
      attemptId,
      author.actorId,
      author.requestId,
    ]).catch(rethrowDuplicateRequest);
    return r ? toDate(r.deadline_at) : null;
  }

  /** Moves the deadline of every attempt of the exam still in progress and audits it (`exam_time_extended`), in one statement. */
  async extendExam(examId: number, seconds: number, author: ActionAuthor): Promise<{ attemptId: number; studentId: number; deadlineAt: Date }[]> {
    const rows = await query<{ id: number; student_id: number; deadline_at: Timestamp }>(this.em.fork(), EXTEND_EXAM, [
      seconds,
      examId,
      author.actorId,
      author.requestId,
    ]).catch(rethrowDuplicateRequest);
    return rows.map((r) => ({ attemptId: r.id, studentId: r.student_id, deadlineAt: toDate(r.deadline_at) }));
  }
}
