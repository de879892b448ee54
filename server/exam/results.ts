import type { EntityManager } from '@mikro-orm/postgresql';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import type { AttemptStatusWire } from '../protocol.js';
import { canInvigilate } from './authoring.js';

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
  answers: { questionId: number; optionId: number | null; correct: boolean }[];
}

/** Raw statements return timestamps as strings; normalise them to ISO-8601 in UTC. */
const iso = (d: string | null) => (d ? new Date(d).toISOString() : null);

/**
 * One attempt's result with a per-question outcome: two statements. A student sees only their own,
 * and only once it has ended; anyone else's is `NOT_FOUND`, exactly like a missing id.
 */
export async function attemptResult(em: EntityManager, user: { id: number; role: Role }, attemptId: number): Promise<AttemptResult> {
  const conn = em.getConnection();
  const [a] = await conn.execute<
    {
      id: number;
      exam_id: number;
      student_id: number;
      status: AttemptStatusWire;
      score: number | null;
      max_score: number | null;
      started_at: string;
      deadline_at: string;
      submitted_at: string | null;
    }[]
  >('select id, exam_id, student_id, status, score, max_score, started_at, deadline_at, submitted_at from attempts where id = ?', [attemptId]);
  const missing = new AppError('NOT_FOUND', 'Attempt not found');
  if (!a) throw missing;
  if (user.role === 'student') {
    if (a.student_id !== user.id) throw missing;
    if (a.status === 'in_progress') throw new AppError('CONFLICT', 'Results are available once the attempt has ended');
  } else if (!(await canInvigilate(em, user, a.exam_id))) {
    throw missing;
  }
  const answers = await conn.execute<{ question_id: number; option_id: number | null; correct: boolean }[]>(
    `select aa.question_id, aa.option_id, coalesce(o.is_correct, false) as correct
     from attempt_answers aa left join options o on o.id = aa.option_id
     where aa.attempt_id = ? order by aa.question_id`,
    [attemptId],
  );
  return {
    attempt: {
      id: a.id,
      examId: a.exam_id,
      status: a.status,
      score: a.score,
      maxScore: a.max_score,
      startedAt: iso(a.started_at)!,
      deadlineAt: iso(a.deadline_at)!,
      submittedAt: iso(a.submitted_at),
    },
    answers: answers.map((r) => ({ questionId: r.question_id, optionId: r.option_id, correct: r.correct })),
  };
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

/** Every student of an exam (enrolled, or with an attempt) with their outcome: one statement. */
export async function examResults(
  em: EntityManager,
  user: { id: number; role: Role },
  examId: number,
): Promise<{ exam: { id: number; title: string }; results: ExamResultRow[] }> {
  if (!(await canInvigilate(em, user, examId))) throw new AppError('NOT_FOUND', 'Exam not found');
  const conn = em.getConnection();
  const [exam] = await conn.execute<{ id: number; title: string }[]>('select id, title from exams where id = ?', [examId]);
  if (!exam) throw new AppError('NOT_FOUND', 'Exam not found');
  const rows = await conn.execute<
    {
      id: number;
      name: string;
      email: string;
      attempt_id: number | null;
      status: AttemptStatusWire | null;
      score: number | null;
      max_score: number | null;
      answered: string | number;
      started_at: string | null;
      submitted_at: string | null;
    }[]
  >(
    `select u.id, u.name, u.email, a.id as attempt_id, a.status, a.score, a.max_score, a.started_at, a.submitted_at,
       (select count(*) from attempt_answers aa where aa.attempt_id = a.id and aa.option_id is not null) as answered
     from (select student_id from enrollments where exam_id = ? union select student_id from attempts where exam_id = ?) s
     join users u on u.id = s.student_id
     left join attempts a on a.exam_id = ? and a.student_id = s.student_id
     order by u.name, u.id`,
    [examId, examId, examId],
  );
  return {
    exam,
    results: rows.map((r) => ({
      student: { id: r.id, name: r.name, email: r.email },
      attemptId: r.attempt_id,
      status: r.status ?? 'not_started',
      score: r.score,
      maxScore: r.max_score,
      answered: Number(r.answered),
      startedAt: iso(r.started_at),
      submittedAt: iso(r.submitted_at),
    })),
  };
}

/** A CSV cell: quoted when needed, and defused when a spreadsheet would read it as a formula. */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function resultsCsv(results: ExamResultRow[]): string {
  const header = ['student_id', 'name', 'email', 'attempt_id', 'status', 'score', 'max_score', 'answered', 'started_at', 'submitted_at'];
  const lines = results.map((r) =>
    [r.student.id, r.student.name, r.student.email, r.attemptId, r.status, r.score, r.maxScore, r.answered, r.startedAt, r.submittedAt]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\r\n') + '\r\n';
}
