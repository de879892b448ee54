/**
 * A node crashes (SIGKILL, from a failpoint: server/failpoints.ts) at the two dangerous points of the
 * answer path: with a batch taken from the buffer before its statement was sent
 * (`answers:before-write`), and after the statement committed before any ack was sent
 * (`answers:after-commit`). Students stream answers to a real `npm start` child process until it dies
 * there, keeping a ledger of what was acknowledged; they resume on a surviving node (same database)
 * and send again every answer they saw no ack for, with the same seq. The oracle: every acknowledged
 * answer was in the database at the crash, and in the end the database holds every answer once, with
 * the highest seq sent per question; the re-sent answers are acked, and those already committed are
 * left as they were.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';
import { FAILPOINT_NAMES, type FailpointName } from '../server/failpoints.js';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { startChildNode } from './helpers/child-node.js';
import { createExam, createUsers, questionsOf, sleep, type TestUser } from './helpers/exam.js';
import { AnswerLedger, storedAnswers } from './helpers/ledger.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok, type StudentSocket } from './helpers/sockets.js';

const STUDENTS = 30;
/** Answers each student has in flight at once (three streams, each waiting for its ack). */
const STREAMS = 3;
const QUESTIONS = 10;
/** The failpoint fires at this batch: the batches before it are written and acked. */
const HIT = 25;
const PREFIX = `crash-${process.pid}:`;

let survivor: TestApp;

beforeAll(async () => {
  survivor = await createTestApp({ redis: { prefix: PREFIX } });
  await survivor.listen();
}, 60_000);

describe('FAILPOINTS', () => {
  it('is read by the config schema: names (optionally @n), anything else refused, never in production', () => {
    expect(loadConfig({}).failpoints).toEqual([]);
    expect(loadConfig({ FAILPOINTS: 'answers:before-write, answers:after-commit@20' }).failpoints).toEqual([
      { name: 'answers:before-write', hit: 1 },
      { name: 'answers:after-commit', hit: 20 },
    ]);
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        return err instanceof ConfigError ? err : null;
      }
      return null;
    };
    for (const bad of ['answers:before', 'answers:after-commit@0', 'answers:after-commit@x', 'answers:before-write;answers:after-commit']) {
      expect(refused({ FAILPOINTS: bad })?.variable, bad).toBe('FAILPOINTS');
    }
    const production = refused({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), FAILPOINTS: 'answers:before-write' });
    expect(production?.message).toBe('Invalid configuration: FAILPOINTS is for fault tests; it is refused when NODE_ENV=production');
  });
});

describe.each(FAILPOINT_NAMES.map((point) => ({ point })))('a node crashing at $point', ({ point }: { point: FailpointName }) => {
  it('acknowledged nothing it had not committed; the re-sent answers are stored once, with the highest seq', async () => {
    const [admin] = (await createUsers(survivor.app, 1, 'admin')) as [TestUser];
    const students = await createUsers(survivor.app, STUDENTS);
    const exam = await createExam(survivor.app, admin, examBody(QUESTIONS, 1), { enroll: students });
    const child = await startChildNode({
      databaseUrl: survivor.databaseUrl,
      redisPrefix: PREFIX,
      env: {
        FAILPOINTS: `${point}@${HIT}`,
        // One batch in flight at a time: the one the failpoint stops is the only one between buffer and ack.
        ANSWER_FLUSH_CONCURRENCY: '1',
        RATE_LIMIT_ANSWERS: '1000/1000',
      },
    });
    const died = new Promise<NodeJS.Signals | null>((resolve) => child.process.once('exit', (_code, signal) => resolve(signal)));

    const ledger = new AnswerLedger();
    const sessions = await Promise.all(
      students.map(async (student) => {
        const socket = await connectSocket(child.url, EXAM_NAMESPACE, student.token);
        const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
        return { student, socket, started, questions: questionsOf(started.exam) };
      }),
    );

    // Every student streams (seq 1, 2, 3, … over STREAMS concurrent streams, question by seq) until
    // the node dies under them: the first answer without an ack ends that stream.
    const streams = sessions.flatMap(({ socket, started, questions }, s) =>
      Array.from({ length: STREAMS }, async (_, k) => {
        for (let seq = k + 1; seq <= 3000; seq += STREAMS) {
          const q = questions[(seq + s) % questions.length]!;
          const answer = { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[seq % q.options.length]!.id, seq };
          const fate = await ledger.send(socket, answer, 3000);
          if (fate.kind !== 'acked') return;
          await sleep(2);
        }
      }),
    );
    const signal = await Promise.race([died, sleep(30_000).then(() => 'still alive' as const)]);
    expect(signal).toBe('SIGKILL');
    expect(child.log()).toContain(`failpoint ${point} reached (hit ${HIT}): SIGKILL`);
    await Promise.all(streams);
    for (const { socket } of sessions) socket.disconnect();

    // At the crash: everything acknowledged is in the database (the ledger against the rows).
    const attemptIds = sessions.map((x) => x.started.attempt.id);
    const atCrash = await storedAnswers(survivor.databaseUrl, attemptIds);
    expect(ledger.acked.length).toBeGreaterThanOrEqual(STUDENTS);
    expect(ledger.ackedButNotStored(atCrash)).toEqual([]);
    const unacked = ledger.unacked;
    const alreadyStored = unacked.filter((a) => atCrash.get(`${a.attemptId}:${a.questionId}`)?.seq === a.seq);
    const notStored = unacked.filter((a) => (atCrash.get(`${a.attemptId}:${a.questionId}`)?.seq ?? -1) < a.seq);
    if (point === 'answers:before-write') {
      // The batch in flight never reached the database, and none of it was acknowledged.
      expect(notStored.length).toBeGreaterThan(0);
    } else {
      // The batch in flight is committed, and none of it was acknowledged.
      expect(alreadyStored.length).toBeGreaterThan(0);
    }

    // Each student resumes on the surviving node and sends its outbox again, same seq, in order.
    const resumed = new AnswerLedger();
    await Promise.all(
      sessions.map(async ({ student, started }) => {
        const socket: StudentSocket = await connectSocket(survivor.url, EXAM_NAMESPACE, student.token);
        const again = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
        expect(again.attempt.id).toBe(started.attempt.id);
        for (const answer of unacked.filter((a) => a.attemptId === started.attempt.id)) await resumed.send(socket, answer);
        socket.disconnect();
      }),
    );
    expect(resumed.sent.map((e) => e.fate)).toEqual(unacked.map(() => ({ kind: 'acked' })));

    // The database: one row per attempt and question, the highest seq sent with its option; what was
    // committed before the crash was not rewritten by its replay.
    const final = await storedAnswers(survivor.databaseUrl, attemptIds);
    expect(ledger.differencesFrom(final)).toEqual([]);
    for (const a of alreadyStored) {
      const k = `${a.attemptId}:${a.questionId}`;
      expect(final.get(k), k).toEqual(atCrash.get(k));
    }
    const duplicates = await sql(
      survivor.databaseUrl,
      'select attempt_id, question_id from attempt_answers where attempt_id = any($1::int[]) group by 1, 2 having count(*) > 1',
      [attemptIds],
    );
    expect(duplicates).toEqual([]);

    // And each attempt is submitted once: a second submit changes nothing.
    await Promise.all(
      sessions.map(async ({ student, started }) => {
        const socket = await connectSocket(survivor.url, EXAM_NAMESPACE, student.token);
        const first = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
        const second = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
        expect(first.attempt.status).toBe('submitted');
        expect(second.attempt).toEqual(first.attempt);
        socket.disconnect();
      }),
    );
    const statuses = await sql<{ status: string; n: number }>(
      survivor.databaseUrl,
      'select status, count(*)::int as n from attempts where exam_id = $1 group by status',
      [exam.id],
    );
    expect(statuses).toEqual([{ status: 'submitted', n: STUDENTS }]);
  }, 90_000);
});
