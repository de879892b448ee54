/**
 * `npm run bench:fanout`: two nodes in this process sharing PostgreSQL and Redis, clients in a child
 * process (its own event loop and clock for both sides of every measurement).
 *
 * 1. Cross-node progress: `STUDENTS` students (default 1,000) on node A stream answers, each one every
 *    `ANSWER_EVERY_MS` (default 2,000 ms, longer than the one-second per-student throttle, so every
 *    update is a leading edge); an invigilator on node B watches. Latency = the invigilator's
 *    `roster:update` showing the new count minus the student's ack of that answer.
 * 2. Announce: `ANNOUNCE_STUDENTS` (default 2,000) students spread over both nodes; an invigilator on
 *    node B sends `exam:announce`; time until the last student received the `message`.
 *
 * Bounded: fixed counts and durations; the script exits by itself.
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { App } from '../server/app.js';
import { deleteKeysWithPrefix } from '../server/cache/redis.js';
import { buildBenchApp, createBenchDatabase, latencySummary, round, runClientProcess, seedBench } from './bench-setup.js';

const STUDENTS = Number(process.env.STUDENTS ?? 1000);
const ANNOUNCE_STUDENTS = Number(process.env.ANNOUNCE_STUDENTS ?? 2000);
const ANSWER_EVERY_MS = Number(process.env.ANSWER_EVERY_MS ?? 2000);
const SECONDS = Number(process.env.SECONDS ?? 20);
const ANNOUNCEMENTS = Number(process.env.ANNOUNCEMENTS ?? 5);

export interface FanoutJob {
  urlA: string;
  urlB: string;
  examId: number;
  studentTokens: string[];
  invigilatorToken: string;
  streamingStudents: number;
  answerEveryMs: number;
  seconds: number;
  announcements: number;
}

export interface FanoutResult {
  progressLatencies: number[];
  answersAcked: number;
  answerErrors: Record<string, number>;
  announce: { students: number; lastMs: number; p50Ms: number; p99Ms: number; received: number }[];
}

const listen = async (app: App) => {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
};

async function main() {
  const db = await createBenchDatabase();
  const prefix = `bench-fanout-${process.pid}:`;
  const env = { REDIS_KEY_PREFIX: prefix, DB_POOL_MAX: '8' };
  const a = await buildBenchApp(db.url, env);
  const b = await buildBenchApp(db.url, env);
  try {
    console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
    const total = Math.max(STUDENTS, ANNOUNCE_STUDENTS);
    const { examId } = await seedBench(a, total, 100);
    const conn = a.orm.em.getConnection();
    const students = await conn.execute<{ id: number; name: string }[]>(`select id, name from users where role = 'student' order by id`);
    await conn.execute(
      `insert into users (email, name, role, password_hash, created_at) values ('bench-inv@example.com', 'Bench Invigilator', 'invigilator', 'x', now())`,
    );
    const [inv] = await conn.execute<{ id: number }[]>(`select id from users where email = 'bench-inv@example.com'`);
    await conn.execute('insert into exam_invigilators (exam_id, invigilator_id) values (?, ?)', [examId, inv!.id]);
    const [urlA, urlB] = [await listen(a), await listen(b)];

    const job: FanoutJob = {
      urlA,
      urlB,
      examId,
      studentTokens: students.map((s) => a.tokens.issue({ sub: s.id, role: 'student', name: s.name })),
      invigilatorToken: a.tokens.issue({ sub: inv!.id, role: 'invigilator', name: 'Bench Invigilator' }),
      streamingStudents: STUDENTS,
      answerEveryMs: ANSWER_EVERY_MS,
      seconds: SECONDS,
      announcements: ANNOUNCEMENTS,
    };
    console.log(`cross-node progress: ${STUDENTS} students on node A, one answer each every ${ANSWER_EVERY_MS} ms for ${SECONDS} s; invigilator on node B …`);
    const result = await runClientProcess<FanoutJob, FanoutResult>('./fanout-client.ts', job);
    const progress = {
      students: STUDENTS,
      answersAcked: result.answersAcked,
      answerErrors: result.answerErrors,
      updatesMatched: result.progressLatencies.length,
      ...latencySummary(result.progressLatencies),
    };
    console.log(`  answer ack (A) -> roster:update (B): p50 ${progress.p50} ms, p95 ${progress.p95} ms, p99 ${progress.p99} ms, max ${progress.max} ms (${progress.updatesMatched} of ${progress.answersAcked} answers matched)`);
    for (const r of result.announce) {
      console.log(`  exam:announce -> ${r.received}/${r.students} students: last ${round(r.lastMs, 1)} ms, p50 ${round(r.p50Ms, 1)} ms, p99 ${round(r.p99Ms, 1)} ms`);
    }
    console.log(JSON.stringify({ progress, announce: result.announce }, null, 2));
  } finally {
    await a.close();
    await b.close();
    await deleteKeysWithPrefix(a.config.redisUrl!, prefix);
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
