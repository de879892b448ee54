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
}
