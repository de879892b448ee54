/**
 * A node killed with SIGKILL (a real child process, no drain) while 200 students stream answers: its
 * students resume on another node, and the oracle holds — every answer a client saw acknowledged is
 * in the database with the highest acknowledged seq per question; after the resume the remaining
 * time is the database's deadline minus now (±1 s); each attempt is submitted exactly once. And a
 * node stopped with SIGTERM (a rolling restart) drains: it exits 0 well inside its drain limit, and
 * every answer it acknowledged is in the database.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { startChildNode } from './helpers/child-node.js';
import { createExam, createUsers, questionsOf, type TestUser } from './helpers/exam.js';
import { waitFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok, request, type StudentSocket } from './helpers/sockets.js';

const STUDENTS = 200;
const QUESTIONS = 10;
const PREFIX = `kill-${process.pid}:`;

let survivor: TestApp;

/** `npm start`'s server as a child process on the survivor's database and Redis prefix. */
const startNode = (databaseUrl: string) => startChildNode({ databaseUrl, redisPrefix: PREFIX });

beforeAll(async () => {
  survivor = await createTestApp({ redis: { prefix: PREFIX } });
  await survivor.listen();
}, 60_000);

describe('a node killed with SIGKILL mid-exam', () => {
  it('loses no acknowledged answer; its students resume on another node with the database deadline, and submit once', async () => {
    const [admin] = (await createUsers(survivor.app, 1, 'admin')) as [TestUser];
    const students = await createUsers(survivor.app, STUDENTS);
    const exam = await createExam(survivor.app, admin, examBody(QUESTIONS, 1), { enroll: students });
    const { process: child, url: victim } = await startNode(survivor.databaseUrl);

    /** Highest acknowledged seq per attempt and question: what the clients were promised. */
    const ledger = new Map<number, Map<number, { seq: number; optionId: number }>>();
    const sessions = await Promise.all(
      students.map(async (student) => {
        const socket = await connectSocket(victim, EXAM_NAMESPACE, student.token, { reconnection: false });
        const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
        ledger.set(started.attempt.id, new Map());
        return { student, socket, started };
      }),
    );

    // Everyone streams: seq n on question n % QUESTIONS, until the node dies under them.
    let killed = false;
    const streams = sessions.map(async ({ socket, started }, s) => {
      const qs = questionsOf(started.exam);
      for (let seq = 1; seq <= 60 && !killed; seq++) {
        const q = qs[(seq + s) % qs.length]!;
        const optionId = q.options[seq % q.options.length]!.id;
        const res = await request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId, seq }, 3000).catch(() => null);
        if (!res?.ok) return;
        const acked = ledger.get(started.attempt.id)!;
        if ((acked.get(q.id)?.seq ?? 0) < res.seq) acked.set(q.id, { seq: res.seq, optionId });
        await new Promise((r) => setTimeout(r, 5 + (s % 10)));
      }
    });
    await waitFor('a good share of answers acknowledged', () => [...ledger.values()].reduce((n, m) => n + m.size, 0) >= STUDENTS * 3, 20_000, 20);
    killed = true;
    const dead = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await dead).toBe('SIGKILL');
    await Promise.all(streams);
    for (const { socket } of sessions) socket.disconnect();

    // Resume on the surviving node: the saved answers hold at least every acknowledged one.
    let maxSkewMs = 0;
    for (const { student, started } of sessions) {
      const socket: StudentSocket = await connectSocket(survivor.url, EXAM_NAMESPACE, student.token);
      const before = Date.now();
      const resumed = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
      expect(resumed.attempt.id).toBe(started.attempt.id);
      const [row] = await sql<{ remaining_ms: number }>(
        survivor.databaseUrl,
        'select extract(epoch from (deadline_at - now())) * 1000 as remaining_ms from attempts where id = $1',
        [started.attempt.id],
      );
      const shownRemaining = Date.parse(resumed.attempt.deadlineAt) - Date.parse(resumed.attempt.serverNow);
      maxSkewMs = Math.max(maxSkewMs, Math.abs(shownRemaining - Number(row!.remaining_ms) - (Date.now() - before)));
      const saved = new Map(resumed.answers.map((a) => [a.questionId, a]));
      for (const [questionId, acked] of ledger.get(started.attempt.id)!) {
        expect(saved.get(questionId)?.seq, `attempt ${started.attempt.id} question ${questionId}`).toBeGreaterThanOrEqual(acked.seq);
      }
      await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
      socket.disconnect();
    }
    expect(maxSkewMs).toBeLessThan(1000);

    // The database, against the ledger: every acknowledged answer, with the highest acknowledged seq or later.
    const rows = await sql<{ attempt_id: number; question_id: number; seq: number }>(
      survivor.databaseUrl,
      'select attempt_id, question_id, seq from attempt_answers where attempt_id = any($1::int[])',
      [[...ledger.keys()]],
    );
    const stored = new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r.seq]));
    let acknowledged = 0;
    for (const [attemptId, acked] of ledger) {
      for (const [questionId, { seq }] of acked) {
        acknowledged++;
        expect(stored.get(`${attemptId}:${questionId}`) ?? 0).toBeGreaterThanOrEqual(seq);
      }
    }
    expect(acknowledged).toBeGreaterThanOrEqual(STUDENTS * 3);
    const attempts = await sql<{ status: string; n: number }>(
      survivor.databaseUrl,
      'select status, count(*)::int as n from attempts where exam_id = $1 group by status',
      [exam.id],
    );
    expect(attempts).toEqual([{ status: 'submitted', n: STUDENTS }]);
  }, 120_000);

  it('SIGTERM (a rolling restart): the node drains and exits 0, every answer it acknowledged is stored', async () => {
    const [admin] = (await createUsers(survivor.app, 1, 'admin')) as [TestUser];
    const students = await createUsers(survivor.app, 50);
    const exam = await createExam(survivor.app, admin, examBody(QUESTIONS, 1), { enroll: students });
    const { process: node, url: nodeUrl } = await startNode(survivor.databaseUrl);
    const acked: { attemptId: number; questionId: number; seq: number }[] = [];
    const sessions = await Promise.all(
      students.map(async (student) => {
        const socket = await connectSocket(nodeUrl, EXAM_NAMESPACE, student.token, { reconnection: false });
        return { socket, started: await ok(socket, EXAM_EVENTS.start, { examId: exam.id }) };
      }),
    );
    let stopping = false;
    const streams = sessions.map(async ({ socket, started }) => {
      const qs = questionsOf(started.exam);
      for (let seq = 1; seq <= 200 && socket.connected; seq++) {
        const q = qs[seq % qs.length]!;
        const res = await request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq }, 3000).catch(() => null);
        if (res?.ok) acked.push({ attemptId: started.attempt.id, questionId: q.id, seq: res.seq });
        else if (stopping) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    await waitFor('answers flowing', () => acked.length >= 300, 20_000, 20);
    const exited = new Promise<{ code: number | null; ms: number }>((resolve) => {
      const began = Date.now();
      node.once('exit', (code) => resolve({ code, ms: Date.now() - began }));
    });
    stopping = true;
    node.kill('SIGTERM');
    const { code, ms } = await exited;
    await Promise.all(streams);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(15_000);

    const rows = await sql<{ attempt_id: number; question_id: number; seq: number }>(
      survivor.databaseUrl,
      'select attempt_id, question_id, seq from attempt_answers where attempt_id = any($1::int[])',
      [sessions.map((x) => x.started.attempt.id)],
    );
    const stored = new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r.seq]));
    for (const a of acked) expect(stored.get(`${a.attemptId}:${a.questionId}`) ?? 0).toBeGreaterThanOrEqual(a.seq);
    // The other node takes the students at once: no handshake error.
    for (const { socket } of sessions) socket.disconnect();
    const again = await connectSocket(survivor.url, EXAM_NAMESPACE, students[0]!.token);
    expect((await ok(again, EXAM_EVENTS.start, { examId: exam.id })).attempt.status).toBe('in_progress');
  }, 120_000);
});
