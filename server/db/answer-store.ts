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

/** The columns the answer statement touches, for Kysely's types. */
interface AnswerTables {
  attempts: { id: number; exam_id: number; status: string; deadline_at: Date };
  exams: { id: number; grace_period_seconds: number };
  attempt_answers: { attempt_id: number; question_id: number; option_id: number | null; seq: number; answered_at: Date };
}

/**
 * One statement per batch, whatever its size, built with the Kysely instance MikroORM exposes: the
 * rows travel as five JSON array parameters (zipped back into rows by set-returning functions in one
 * select list), the attempts they belong to are checked (in progress, within deadline + grace, by the
 * database's clock) and key-share locked in the same statement, so a concurrent submit or sweep
 * either sees the answer or makes it fail: never an answer stored after its attempt was scored. Rows
 * are written in key order (no deadlocks between concurrent flushes); the highest seq wins
 * (`excluded.seq > attempt_answers.seq`), a replay changes nothing. A single statement is its own
 * transaction: committed when it returns, without BEGIN/COMMIT trips. Returns each attempt's outcome.
 */
function upsertAnswers(em: EntityManager, rows: readonly AnswerRow[]): Promise<{ attempt_id: number; outcome: BatchAttemptOutcome }[]> {
  const k = em.getKysely<AnswerTables>();
  const column = (values: unknown[]) => JSON.stringify(values);
  return k
    .with('v', (db) =>
      db.selectNoFrom((eb) => {
        const elements = (values: unknown[]) => eb.fn<string>('jsonb_array_elements_text', [eb.cast(eb.val(column(values)), 'jsonb')]);
        return [
          eb.cast<number>(elements(rows.map((r) => r.attemptId)), 'int4').as('attempt_id'),
          eb.cast<number>(elements(rows.map((r) => r.questionId)), 'int4').as('question_id'),
          eb.cast<number | null>(elements(rows.map((r) => r.optionId)), 'int4').as('option_id'),
          eb.cast<number>(elements(rows.map((r) => r.seq)), 'int4').as('seq'),
          eb.cast<Date>(elements(rows.map((r) => r.answeredAt)), 'timestamptz').as('answered_at'),
        ];
      }),
    )
    .with('a', (db) =>
      db
        .selectFrom('attempts as a')
        .innerJoin('exams as e', 'e.id', 'a.exam_id')
        .select((eb) => [
          'a.id',
          'a.status',
          eb(eb('a.deadline_at', '+', eb.fn<Date>('make_interval', [eb.lit(0), eb.lit(0), eb.lit(0), eb.lit(0), eb.lit(0), eb.lit(0), 'e.grace_period_seconds'])), '>=', eb.fn<Date>('now', [])).as('in_time'),
        ])
        .where('a.id', 'in', (eb) => eb.selectFrom('v').select('v.attempt_id').distinct())
        .forKeyShare('a'),
    )
    .with('ins', (db) =>
      db
        .insertInto('attempt_answers')
        .columns(['attempt_id', 'question_id', 'option_id', 'seq', 'answered_at'])
        .expression((eb) =>
          eb
            .selectFrom('v')
            .innerJoin('a', (join) => join.onRef('a.id', '=', 'v.attempt_id').on('a.status', '=', 'in_progress').on('a.in_time', '=', true))
            .select(['v.attempt_id', 'v.question_id', 'v.option_id', 'v.seq', 'v.answered_at'])
            .orderBy('v.attempt_id')
            .orderBy('v.question_id'),
        )
        .onConflict((oc) =>
          oc
            .columns(['attempt_id', 'question_id'])
            .doUpdateSet((eb) => ({ option_id: eb.ref('excluded.option_id'), seq: eb.ref('excluded.seq'), answered_at: eb.ref('excluded.answered_at') }))
            .whereRef('excluded.seq', '>', 'attempt_answers.seq'),
        ),
    )
    .selectFrom('a')
    .select((eb) => [
      'a.id as attempt_id',
      eb.case().when('a.status', '<>', 'in_progress').then('closed' as BatchAttemptOutcome).when('a.in_time', '=', false).then('late' as BatchAttemptOutcome).else('ok' as BatchAttemptOutcome).end().as('outcome'),
    ])
    .execute();
}

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
    const result = await upsertAnswers(this.em.fork(), rows);
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
