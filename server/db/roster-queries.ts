import type { EntityManager } from '@mikro-orm/postgresql';
import type { AttemptStatus } from '../../entities/attempt.js';
import { query, toDateOrNull } from './sql.js';

/** How far an attempt got: answered questions (an option chosen) and proctoring flags. */
export interface AttemptProgress {
  attemptId: number;
  examId: number;
  studentId: number;
  answered: number;
  flags: number;
}

/** One student of an exam (enrolled, or with an attempt), with their attempt if any, and its progress. */
export interface Participant {
  student: { id: number; name: string; email: string };
  extraTimeSeconds: number;
  attempt: {
    id: number;
    status: AttemptStatus;
    startedAt: Date;
    deadlineAt: Date;
    submittedAt: Date | null;
    score: number | null;
    maxScore: number | null;
    answered: number;
    flags: number;
  } | null;
}

type Timestamp = string | Date;

/**
 * The progress of attempt `a` (answered count, flag count for the event types in parameter $1): the
 * one definition, shared by the two statements below.
 */
const PROGRESS_OF_A = `
  (select count(*)::int from attempt_answers aa where aa.attempt_id = a.id and aa.option_id is not null) as answered,
  (select count(*)::int from proctor_events pe where pe.attempt_id = a.id and pe.type = any($1::text[])) as flags`;

const PROGRESS = `select a.id, a.exam_id, a.student_id, ${PROGRESS_OF_A} from attempts a where a.id = any($2::int[])`;

/**
 * Every student of an exam: enrolled, or with an attempt (enrollment removed after starting), by name.
 * Also the exam's question count and the database's clock, for the roster.
 */
const PARTICIPANTS = `
select u.id as student_id, u.name, u.email, en.extra_time_seconds,
  a.id as attempt_id, a.status, a.started_at, a.deadline_at, a.submitted_at, a.score, a.max_score, ${PROGRESS_OF_A},
  (select count(*)::int from questions q join sections s on s.id = q.section_id where s.exam_id = $2) as total,
  now() as db_now
from (select student_id from enrollments where exam_id = $2 union select student_id from attempts where exam_id = $2) p
join users u on u.id = p.student_id
left join enrollments en on en.exam_id = $2 and en.student_id = p.student_id
left join attempts a on a.exam_id = $2 and a.student_id = p.student_id
order by u.name, u.id`;

/**
 * The live rows of every participant of several exams at once (what a resync pushes to the consoles
 * watching them): the same rows as {@link PARTICIPANTS} without the names, in one statement.
 */
const LIVE_ROWS = `
select p.exam_id, p.student_id, a.id as attempt_id, a.status, a.deadline_at, ${PROGRESS_OF_A}, now() as db_now
from (select exam_id, student_id from enrollments where exam_id = any($2::int[])
      union select exam_id, student_id from attempts where exam_id = any($2::int[])) p
left join attempts a on a.exam_id = p.exam_id and a.student_id = p.student_id`;

/**
 * Status and deadline of the given attempts and, for those that ended, why, as the students were told
 * when it happened (`attempt:ended` `reason`): the invigilator's termination reason from its audit
 * entry, `forced` for a force-submit, `deadline` for an expiry. One statement; the audit look-ups run
 * for ended attempts only (`proctor_events_attempt_id_index`).
 */
const ATTEMPT_STATES_WITH_REASON = `
select a.id, a.status, a.deadline_at,
  case a.status
    when 'expired' then 'deadline'
    when 'terminated' then coalesce(
      (select pe.detail->>'reason' from proctor_events pe where pe.attempt_id = a.id and pe.type = 'terminated' order by pe.id desc limit 1),
      'terminated')
    when 'submitted' then
      case when exists (select 1 from proctor_events pe where pe.attempt_id = a.id and pe.type = 'force_submitted') then 'forced' else 'submitted' end
  end as reason
from attempts a where a.id = any($1::int[])`;

/** One participant's live row (see {@link RosterQueries.liveRows}). */
export interface LiveRow {
  examId: number;
  studentId: number;
  attempt: { id: number; status: AttemptStatus; deadlineAt: Date; answered: number; flags: number } | null;
}

/** The read side of the invigilator console and the results: who sits an exam and how far they are. */
export class RosterQueries {
  constructor(private readonly em: EntityManager) {}

  /** The progress of the given attempts, in one statement. */
  async progress(attemptIds: number[], flagTypes: readonly string[]): Promise<AttemptProgress[]> {
    const rows = await query<{ id: number; exam_id: number; student_id: number; answered: number; flags: number }>(
      this.em.fork(),
      PROGRESS,
      [flagTypes, attemptIds],
    );
    return rows.map((r) => ({ attemptId: r.id, examId: r.exam_id, studentId: r.student_id, answered: r.answered, flags: r.flags }));
  }

  /** Every participant of an exam with their attempt and progress, one statement whatever the class size. */
  async participants(
    examId: number,
    flagTypes: readonly string[],
  ): Promise<{ participants: Participant[]; questionCount: number; dbNow: Date }> {
    const rows = await query<{
      student_id: number;
      name: string;
      email: string;
      extra_time_seconds: number | null;
      attempt_id: number | null;
      status: AttemptStatus | null;
      started_at: Timestamp | null;
      deadline_at: Timestamp | null;
      submitted_at: Timestamp | null;
      score: number | null;
      max_score: number | null;
      answered: number;
      flags: number;
      total: number;
      db_now: Timestamp;
    }>(this.em.fork(), PARTICIPANTS, [flagTypes, examId]);
    return {
      questionCount: rows[0]?.total ?? 0,
      dbNow: toDateOrNull(rows[0]?.db_now ?? null) ?? new Date(),
      participants: rows.map((r) => ({
        student: { id: r.student_id, name: r.name, email: r.email },
        extraTimeSeconds: r.extra_time_seconds ?? 0,
        attempt:
          r.attempt_id === null
            ? null
            : {
                id: r.attempt_id,
                status: r.status!,
                startedAt: toDateOrNull(r.started_at)!,
                deadlineAt: toDateOrNull(r.deadline_at)!,
                submittedAt: toDateOrNull(r.submitted_at),
                score: r.score,
                maxScore: r.max_score,
                answered: r.answered,
                flags: r.flags,
              },
      })),
    };
  }

  /** Every participant of each of `examIds` with their attempt's status, deadline and progress, and the database's clock: one statement. */
  async liveRows(examIds: readonly number[], flagTypes: readonly string[]): Promise<{ rows: LiveRow[]; dbNow: Date }> {
    if (examIds.length === 0) return { rows: [], dbNow: new Date() };
    const rows = await query<{
      exam_id: number;
      student_id: number;
      attempt_id: number | null;
      status: AttemptStatus | null;
      deadline_at: Timestamp | null;
      answered: number;
      flags: number;
      db_now: Timestamp;
    }>(this.em.fork(), LIVE_ROWS, [flagTypes, [...examIds]]);
    return {
      dbNow: toDateOrNull(rows[0]?.db_now ?? null) ?? new Date(),
      rows: rows.map((r) => ({
        examId: r.exam_id,
        studentId: r.student_id,
        attempt:
          r.attempt_id === null
            ? null
            : { id: r.attempt_id, status: r.status!, deadlineAt: toDateOrNull(r.deadline_at)!, answered: r.answered, flags: r.flags },
      })),
    };
  }

  /** Status, deadline and end reason (null while in progress) of the given attempts, in one statement. */
  async attemptStates(attemptIds: readonly number[]): Promise<Map<number, { status: AttemptStatus; deadlineAt: Date; reason: string | null }>> {
    if (attemptIds.length === 0) return new Map();
    const rows = await query<{ id: number; status: AttemptStatus; deadline_at: Timestamp; reason: string | null }>(
      this.em.fork(),
      ATTEMPT_STATES_WITH_REASON,
      [[...attemptIds]],
    );
    return new Map(rows.map((r) => [r.id, { status: r.status, deadlineAt: toDateOrNull(r.deadline_at)!, reason: r.reason }]));
  }
}
