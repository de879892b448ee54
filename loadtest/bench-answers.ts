/**
 * `npm run bench:answers`: how fast answers become durable, measured on this machine in one run.
 *
 * 1. Write throughput (in process, no sockets): one INSERT per answer (the Django report's "before"),
 *    MikroORM's unit of work (em.create + flush), MikroORM's upsertMany, and the AnswerWriter over
 *    two batch paths with the same guarantees: the production single statement (AnswerStore.writeBatch)
 *    and a unit of work per batch (check-and-lock + upsertMany in one transaction): fresh rows each,
 *    then an update pass of each.
 * 2. Ack latency over real sockets: `SOCKETS` students (default 1,000) in a child process stream
 *    answers at a fixed offered load (`RATE`, default 2,000/s) for `SECONDS` (default 20); the
 *    latency from emit to the `{ok:true}` ack (sent only after commit) is reported as p50/p95/p99.
 *
 * Bounded: every loop has a fixed count or duration and the script exits by itself.
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Attempt, AttemptAnswer, Option, Question } from '../entities/index.js';
import type { App } from '../server/app.js';
import { deleteKeysWithPrefix } from '../server/cache/redis.js';
import { raw, type EntityManager } from '@mikro-orm/postgresql';
import type { AnswerRow, BatchAttemptOutcome } from '../server/db/answer-store.js';
import { query } from '../server/db/sql.js';
import { AnswerWriter } from '../server/exam/answer-writer.js';
import { buildBenchApp, createBenchDatabase, latencySummary, round, runClientProcess, seedBench } from './bench-setup.js';

const STUDENTS = Number(process.env.SOCKETS ?? 1000);
const QUESTIONS = 100;
const RATE = Number(process.env.RATE ?? 2000);
const SECONDS = Number(process.env.SECONDS ?? 20);

/**
 * The unit-of-work path's check (statement 1 of 2 in its transaction): the attempts of a batch, each `ok`, `closed` or `late` by the
 * database's clock, key-share locked until the transaction ends (a submit or sweep, which locks the
 * row FOR UPDATE, waits for the batch, or the batch for it).
 */
const CHECK_ATTEMPTS = `
select a.id as attempt_id,
  case when a.status <> 'in_progress' then 'closed'
    when a.deadline_at + make_interval(secs => e.grace_period_seconds) < now() then 'late' else 'ok' end as outcome
from attempts a join exams e on e.id = a.exam_id
where a.id = any($1::int[])
order by a.id
for key share of a`;


/**
 * The answer batch through MikroORM's unit of work, with every guarantee of the production statement
 * (AnswerStore.writeBatch): one forked EntityManager, one transaction, the attempts checked by the
 * database's clock and key-share locked, then one `upsertMany` (one INSERT … ON CONFLICT for the whole
 * batch) of the rows of open attempts, merged only where the stored seq is lower. Measured against the
 * production path; see docs/benchmarks.md for why production keeps the single statement.
 */
async function unitOfWorkBatch(root: EntityManager, rows: readonly AnswerRow[]): Promise<Map<number, BatchAttemptOutcome>> {
  const attemptIds = [...new Set(rows.map((r) => r.attemptId))];
  return root.fork().transactional(async (em) => {
    const checked = await query<{ attempt_id: number; outcome: BatchAttemptOutcome }>(em, CHECK_ATTEMPTS, [attemptIds]);
    const outcomes = new Map(checked.map((r) => [r.attempt_id, r.outcome]));
    const open = rows.filter((r) => outcomes.get(r.attemptId) === 'ok');
    if (open.length > 0) {
      await em.upsertMany(
        AttemptAnswer,
        open.map((r) => ({ attempt: r.attemptId, question: r.questionId, option: r.optionId, seq: r.seq, answeredAt: r.answeredAt })),
        {
          onConflictFields: ['attempt', 'question'],
          onConflictAction: 'merge',
          onConflictMergeFields: ['option', 'seq', 'answeredAt'],
          onConflictWhere: { seq: { $lt: raw('excluded.seq') } },
          batchSize: open.length,
          disableIdentityMap: true,
        },
      );
    }
    return outcomes;
  });
}


interface Row {
  attemptId: number;
  questionId: number;
  optionId: number;
  seq: number;
}

async function startAttempts(app: App, examId: number, studentIds: number[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < studentIds.length; i += 50) {
    const chunk = await Promise.all(studentIds.slice(i, i + 50).map((s) => app.attempts.start(s, examId)));
    ids.push(...chunk.map((c) => c.context.attemptId));
  }
  return ids;
}

function rowsFor(attempts: number[], questions: { id: number; options: number[] }[], seq: number): Row[] {
  const rows: Row[] = [];
  for (const attemptId of attempts) {
    for (const q of questions) rows.push({ attemptId, questionId: q.id, optionId: q.options[seq % q.options.length]!, seq });
  }
  return rows;
}

async function timed(label: string, rows: number, fn: () => Promise<void>): Promise<{ label: string; rows: number; seconds: number; perSecond: number }> {
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const result = { label, rows, seconds: round(seconds, 2), perSecond: Math.round(rows / seconds) };
  console.log(`  ${label}: ${rows} rows in ${result.seconds} s = ${result.perSecond.toLocaleString('en')} rows/s`);
  return result;
}

async function writeThroughput(app: App, attempts: number[], questions: { id: number; options: number[] }[]) {
  const conn = app.orm.em.getConnection();
  const results = [];
  const slice = (from: number, to: number) => attempts.slice(from, to);

  // One autocommit INSERT per answer, one after another: the per-answer path.
  const single = rowsFor(slice(0, 20), questions, 1);
  results.push(
    await timed('one INSERT per answer', single.length, async () => {
      for (const r of single) {
        await conn.execute(
          `insert into attempt_answers (attempt_id, question_id, option_id, seq, answered_at) values (?, ?, ?, ?, now())
           on conflict (attempt_id, question_id) do update set option_id = excluded.option_id, seq = excluded.seq
           where excluded.seq > attempt_answers.seq`,
          [r.attemptId, r.questionId, r.optionId, r.seq],
        );
      }
    }),
  );

  // What a per-request handler does with an ORM: one transaction per answer (BEGIN, INSERT, COMMIT).
  const perUow = rowsFor(slice(20, 40), questions, 1);
  results.push(
    await timed('one transaction per answer (BEGIN, upsert, COMMIT)', perUow.length, async () => {
      for (const r of perUow) {
        const em = app.orm.em.fork();
        await em.transactional(async (tem) => {
          await tem.getConnection().execute(
            `insert into attempt_answers (attempt_id, question_id, option_id, seq, answered_at) values (?, ?, ?, ?, now())
             on conflict (attempt_id, question_id) do update set option_id = excluded.option_id, seq = excluded.seq
             where excluded.seq > attempt_answers.seq`,
            [r.attemptId, r.questionId, r.optionId, r.seq],
            'run',
            tem.getTransactionContext(),
          );
        });
      }
    }),
  );

  // The plain unit of work: entities created and flushed 500 at a time (inserts only, no upsert).
  const uow = rowsFor(slice(40, 240), questions, 1);
  results.push(
    await timed('MikroORM em.create + flush (500/flush)', uow.length, async () => {
      for (let i = 0; i < uow.length; i += 500) {
        const em = app.orm.em.fork();
        for (const r of uow.slice(i, i + 500)) {
          em.create(AttemptAnswer, {
            attempt: em.getReference(Attempt, r.attemptId),
            question: em.getReference(Question, r.questionId),
            option: em.getReference(Option, r.optionId),
            seq: r.seq,
            answeredAt: new Date(),
          });
        }
        await em.flush();
      }
    }),
  );

  const upserts = rowsFor(slice(240, 440), questions, 1);
  results.push(
    await timed('MikroORM em.upsertMany (500/call)', upserts.length, async () => {
      for (let i = 0; i < upserts.length; i += 500) {
        const em = app.orm.em.fork();
        await em.upsertMany(
          AttemptAnswer,
          upserts.slice(i, i + 500).map((r) => ({
            attempt: r.attemptId,
            question: r.questionId,
            option: r.optionId,
            seq: r.seq,
            answeredAt: new Date(),
          })),
          { onConflictFields: ['attempt', 'question'], onConflictAction: 'merge', onConflictMergeFields: ['option', 'seq', 'answeredAt'] },
        );
      }
    }),
  );

  // The production path: concurrent producers into the AnswerWriter, a bounded window in flight; and
  // the same writer (same batching, same options) over the unit-of-work path of the store.
  const writers = {
    statement: app.answers,
    unitOfWork: new AnswerWriter({ writeBatch: (rows) => unitOfWorkBatch(app.orm.em, rows) }, app.log, app.config.answers),
  };
  // A bounded window of answers in flight, refilled as acks arrive (a counter, not Promise.race
  // over the window, which would cost the producer O(window) per answer).
  const drive = async (writer: AnswerWriter, rows: Row[]) => {
    const window = 10_000;
    let inflight = 0;
    let wake: (() => void) | null = null;
    let failure: unknown = null;
    const settled = () => {
      inflight--;
      const w = wake;
      wake = null;
      w?.();
    };
    for (const r of rows) {
      while (inflight >= window) await new Promise<void>((resolve) => (wake = resolve));
      inflight++;
      writer.enqueue({ ...r, answeredAt: new Date() }).then(
        (outcome) => {
          if (outcome !== 'ok') failure ??= new Error(`answer refused: ${outcome}`);
          settled();
        },
        (err: unknown) => {
          failure ??= err;
          settled();
        },
      );
    }
    while (inflight > 0) await new Promise<void>((resolve) => (wake = resolve));
    if (failure) throw failure;
  };
  const half = 440 + Math.floor((attempts.length - 440) / 2);
  const fresh = rowsFor(slice(440, half), questions, 1);
  results.push(await timed('AnswerWriter, single statement, new answers (durable acks)', fresh.length, () => drive(writers.statement, fresh)));
  const freshUow = rowsFor(slice(half, attempts.length), questions, 1);
  results.push(await timed('AnswerWriter, unit of work, new answers (durable acks)', freshUow.length, () => drive(writers.unitOfWork, freshUow)));
  const updates = rowsFor(attempts, questions, 2);
  results.push(await timed('AnswerWriter, single statement, changed answers (upsert updates)', updates.length, () => drive(writers.statement, updates)));
  const updatesUow = rowsFor(attempts, questions, 3);
  results.push(await timed('AnswerWriter, unit of work, changed answers (upsert updates)', updatesUow.length, () => drive(writers.unitOfWork, updatesUow)));
  await writers.unitOfWork.close();
  return results;
}

async function ackLatency(app: App, examId: number) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const ids = await app.orm.em.getConnection().execute<{ id: number; name: string }[]>(
    `select id, name from users where role = 'student' order by id limit ?`,
    [STUDENTS],
  );
  const tokens = ids.map((u) => app.tokens.issue({ sub: u.id, role: 'student', name: u.name }));
  const message = await runClientProcess<object, { latencies: number[]; errors: Record<string, number>; sent: number; lagP99: number }>(
    './answer-client.ts',
    { url, tokens, examId, rate: RATE, seconds: SECONDS },
  );
  return {
    sockets: tokens.length,
    offeredPerSecond: RATE,
    seconds: SECONDS,
    sent: message.sent,
    acked: message.latencies.length,
    errors: message.errors,
    ...latencySummary(message.latencies),
    clientEventLoopLagP99Ms: round(message.lagP99, 2),
  };
}

async function main() {
  const db = await createBenchDatabase();
  const app = await buildBenchApp(db.url, { ANSWER_MAX_PENDING: '50000' });
  try {
    console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
    // The write phases use 1,000 attempts whatever SOCKETS is; the socket phase the first SOCKETS.
    const { examId, studentIds } = await seedBench(app, Math.max(STUDENTS, 1000), QUESTIONS);
    const attempts = await startAttempts(app, examId, studentIds);
    const exam = await app.questions.get(examId, 1);
    const questions = exam!.view.sections.flatMap((s) => s.questions.map((q) => ({ id: q.id, options: q.options.map((o) => o.id) })));
    console.log(`write throughput (${attempts.length} attempts × ${questions.length} questions):`);
    const throughput = await writeThroughput(app, attempts, questions);
    // Clear the answers so the socket phase writes into the same table size as a real exam start.
    await app.orm.em.getConnection().execute('truncate attempt_answers');
    console.log(`ack latency: ${STUDENTS} sockets, ${RATE} answers/s offered for ${SECONDS} s …`);
    const latency = await ackLatency(app, examId);
    console.log(`  p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms, max ${latency.max} ms; acked ${latency.acked}/${latency.sent}, errors ${JSON.stringify(latency.errors)}`);
    const writer = throughput.find((r) => r.label.startsWith('AnswerWriter, single statement, new'))!.perSecond;
    for (const base of throughput.slice(0, 2)) {
      console.log(`batched writer (new answers) / ${base.label}: ${round(writer / base.perSecond, 1)}×`);
    }
    console.log(JSON.stringify({ throughput, latency }, null, 2));
  } finally {
    await app.close();
    await deleteKeysWithPrefix(app.config.redisUrl!, app.config.redisKeyPrefix);
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
