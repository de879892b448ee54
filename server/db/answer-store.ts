import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from './sql.js';

/** One answer to write: the latest choice of an attempt for a question, with its sequence number. */
export interface AnswerRow {
  attemptId: number;
  questionId: number;
  optionId: number | null;
  seq: number;
  answeredAt: Date;
}

/**
 * What the database said about an attempt a batch wrote to: `ok` (its answers are stored, or a newer
 * seq already was), `closed` (it had ended), `late` (past deadline + grace, by the database's clock).
 * An attempt missing from the result does not exist.
 */
export type BatchAttemptOutcome = 'ok' | 'closed' | 'late';

/**
 * One statement per batch, whatever its size: the rows travel as five array parameters (unnest), the
 * attempts they belong to are checked (in progress, within deadline + grace, by the database's clock)
 * and key-share locked in the same statement, so a concurrent submit or sweep either sees the answer
 * or makes it fail: never an answer stored after its attempt was scored. Rows are written in key
 * order (no deadlocks between concurrent flushes); the highest seq wins, a replay changes nothing.
 * A single statement is its own transaction: committed when it returns, without BEGIN/COMMIT trips.
 */
const UPSERT_ANSWERS = `
with v as (
  select * from unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::timestamptz[])
    as v(attempt_id, question_id, option_id, seq, answered_at)
), a as (
  select a.id, a.status, a.deadline_at + make_interval(secs => e.grace_period_seconds) >= now() as in_time
  from attempts a join exams e on e.id = a.exam_id
  where a.id in (select distinct attempt_id from v)
  for key share of a
), ins as (
  insert into attempt_answers (attempt_id, question_id, option_id, seq, answered_at)
  select v.attempt_id, v.question_id, v.option_id, v.seq, v.answered_at
  from v join a on a.id = v.attempt_id and a.status = 'in_progress' and a.in_time
  order by v.attempt_id, v.question_id
  on conflict (attempt_id, question_id) do update
    set option_id = excluded.option_id, seq = excluded.seq, answered_at = excluded.answered_at
    where excluded.seq > attempt_answers.seq
)
select a.id as attempt_id,
  case when a.status <> 'in_progress' then 'closed' when not a.in_time then 'late' else 'ok' end as outcome
from a`;

const SAVED_ANSWERS = 'select question_id, option_id, seq from attempt_answers where attempt_id = $1 order by question_id';

const MARKED_ANSWERS = `
select aa.question_id, aa.option_id, coalesce(o.is_correct, false) as correct
from attempt_answers aa left join options o on o.id = aa.option_id
where aa.attempt_id = $1 order by aa.question_id`;

/** Stored answers: the batch write and the two ways they are read back. */
export class AnswerStore {
  constructor(private readonly em: EntityManager) {}

  /**
   * Writes a batch of answers (at most one per attempt and question, in key order) and returns each
   * attempt's outcome. Durable when it resolves.
   */
  async writeBatch(rows: readonly AnswerRow[]): Promise<Map<number, BatchAttemptOutcome>> {
    const result = await query<{ attempt_id: number; outcome: BatchAttemptOutcome }>(this.em.fork(), UPSERT_ANSWERS, [
      rows.map((r) => r.attemptId),
      rows.map((r) => r.questionId),
      rows.map((r) => r.optionId),
      rows.map((r) => r.seq),
      rows.map((r) => r.answeredAt),
    ]);
    return new Map(result.map((r) => [r.attempt_id, r.outcome]));
  }

  /** An attempt's saved answers (for a resume), by question. */
  async saved(attemptId: number): Promise<{ questionId: number; optionId: number | null; seq: number }[]> {
    const rows = await query<{ question_id: number; option_id: number | null; seq: number }>(this.em.fork(), SAVED_ANSWERS, [attemptId]);
    return rows.map((r) => ({ questionId: r.question_id, optionId: r.option_id, seq: r.seq }));
  }

  /** An attempt's answers, each marked right or wrong against the key in the database. */
  async marked(attemptId: number): Promise<{ questionId: number; optionId: number | null; correct: boolean }[]> {
    const rows = await query<{ question_id: number; option_id: number | null; correct: boolean }>(this.em.fork(), MARKED_ANSWERS, [attemptId]);
    return rows.map((r) => ({ questionId: r.question_id, optionId: r.option_id, correct: r.correct }));
  }
}
