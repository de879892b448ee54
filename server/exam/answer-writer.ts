import type { FastifyBaseLogger } from 'fastify';
import type { MikroORM } from '@mikro-orm/postgresql';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';

export interface AnswerInput {
  attemptId: number;
  questionId: number;
  optionId: number | null;
  seq: number;
  answeredAt: Date;
}

/**
 * What became of an answer once its batch committed: `ok` (stored, or a newer seq already was),
 * `closed` (the attempt had ended), `late` (past deadline + grace), `missing` (no such attempt).
 */
export type AnswerOutcome = 'ok' | 'closed' | 'late' | 'missing';

const intArray = (values: (number | null)[]) => `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
const timeArray = (values: Date[]) => `{${values.map((d) => `"${d.toISOString()}"`).join(',')}}`;

/**
 * One statement per batch, whatever its size: the rows travel as five array parameters (unnest), the
 * attempts they belong to are checked (in progress, within deadline + grace, by the database's clock)
 * and key-share locked in the same statement, so a concurrent submit or sweep either sees the answer
 * or makes it fail: never an answer stored after its attempt was scored. Rows are written in key
 * order (no deadlocks between concurrent flushes); the highest seq wins, a replay changes nothing.
 * A single statement is its own transaction: committed when it returns, without BEGIN/COMMIT trips.
 */
export const UPSERT_ANSWERS_SQL = `
with v as (
  select * from unnest(?::int[], ?::int[], ?::int[], ?::int[], ?::timestamptz[])
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

/**
 * The durable path of every answer: callers `enqueue` and get the outcome only after the batch that
 * holds their answer committed. Several answers of one attempt to one question within a batch are
 * folded to the highest seq first (one row can be written once per statement).
 */
export class AnswerWriter {
  private readonly batches: BatchWriter<AnswerInput, AnswerOutcome>;

  constructor(
    private readonly orm: MikroORM,
    log: FastifyBaseLogger,
    opts: Partial<BatchWriterOptions> = {},
  ) {
    this.batches = new BatchWriter('answers', (items) => this.write(items), log, opts);
  }

  enqueue(answer: AnswerInput): Promise<AnswerOutcome> {
    return this.batches.enqueue(answer);
  }

  get pending(): number {
    return this.batches.pending;
  }

  /** Writes everything buffered and waits for it (before a submit, so the score sees every answer). */
  flush(): Promise<void> {
    return this.batches.flushNow();
  }

  close(): Promise<void> {
    return this.batches.close();
  }

  private async write(items: AnswerInput[]): Promise<AnswerOutcome[]> {
    const latest = new Map<string, AnswerInput>();
    for (const a of items) {
      const k = `${a.attemptId}:${a.questionId}`;
      const seen = latest.get(k);
      if (!seen || a.seq > seen.seq) latest.set(k, a);
    }
    const rows = [...latest.values()].sort((x, y) => x.attemptId - y.attemptId || x.questionId - y.questionId);
    const result = await this.orm.em
      .getConnection().execute<{ attempt_id: number; outcome: AnswerOutcome }[]>(UPSERT_ANSWERS_SQL, [
      intArray(rows.map((r) => r.attemptId)),
      intArray(rows.map((r) => r.questionId)),
      intArray(rows.map((r) => r.optionId)),
      intArray(rows.map((r) => r.seq)),
      timeArray(rows.map((r) => r.answeredAt)),
    ]);
    const byAttempt = new Map(result.map((r) => [Number(r.attempt_id), r.outcome]));
    return items.map((a) => byAttempt.get(a.attemptId) ?? 'missing');
  }
}
