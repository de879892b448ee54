/**
 * Lost cross-node messages (issue 9, items 3 and 4): a deadline change or an invigilator's removal
 * travels between nodes as one fire-and-forget Redis message. Here one node loses Redis (a TCP relay
 * in front of Redis for that node only) while another node acts: the database is the authority, so
 * the node repairs itself from it — periodically (`RESYNC_INTERVAL_MS`) and when Redis comes back —
 * and never refuses an answer on its stale deadline alone.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type TimerEvent } from '../server/protocol.js';
import { examRoom } from '../server/realtime/rooms.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createTestDatabase } from './helpers/db.js';
import { createExam, createUsers, eventually, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { collect, collectRoster } from './helpers/nodes.js';
import { connectSocket, ok, type InvigilatorClientSocket } from './helpers/sockets.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const RESYNC_MS = 1500;
let a: TestApp;
/** Resyncs every RESYNC_MS; its Redis goes through `proxyB`. */
let b: TestApp;
/** Resyncs only when its Redis (through `proxyC`) comes back (the period is 10 minutes). */
let c: TestApp;
let proxyB: TcpProxy;
let proxyC: TcpProxy;
let admin: TestUser;
let invigilator: TestUser;
let students: TestUser[];

beforeAll(async () => {
  const { url } = await createTestDatabase();
  const prefix = `resync-${randomBytes(4).toString('hex')}:`;
  proxyB = await startTcpProxy('127.0.0.1', 6379);
  proxyC = await startTcpProxy('127.0.0.1', 6379);
  a = await createTestApp({ databaseUrl: url, redis: { prefix }, env: { RESYNC_INTERVAL_MS: String(RESYNC_MS) } });
  await a.listen();
  b = await createTestApp({
    databaseUrl: url,
    redis: { prefix },
    env: { RESYNC_INTERVAL_MS: String(RESYNC_MS), REDIS_URL: `redis://127.0.0.1:${proxyB.port}` },
  });
  await b.listen();
  c = await createTestApp({
    databaseUrl: url,
    redis: { prefix },
    env: { RESYNC_INTERVAL_MS: '600000', REDIS_URL: `redis://127.0.0.1:${proxyC.port}` },
  });
  await c.listen();
  admin = (await createUsers(a.app, 1, 'admin'))[0]!;
  invigilator = (await createUsers(a.app, 1, 'invigilator'))[0]!;
  students = await createUsers(a.app, 4, 'student');
});

async function cutRedis(node: TestApp, proxy: TcpProxy): Promise<void> {
  await proxy.down();
  await eventually(async () => !node.app.fanout!.healthy(), 5000);
}

async function shortExam(durationSeconds: number, enroll: TestUser[]) {
  return createExam(a.app, admin, examBody(2, 1, { durationSeconds, gracePeriodSeconds: 0 }), { enroll });
}

describe('a deadline change lost between nodes (item 3)', () => {
  it('periodic resync: the student on the node that missed it gets the new deadline, and answers after the old one are accepted', async () => {
    const exam = await shortExam(4, [students[0]!]);
    const { socket, started } = await startAttempt(b.url, students[0]!, exam.id);
    const attemptId = started.attempt.id;
    const oldDeadline = Date.parse(started.attempt.deadlineAt);
    const inv = await connectSocket(a.url, INVIGILATOR_NAMESPACE, admin.token);
    const timers = collect(socket, EXAM_EVENTS.timer);

    await cutRedis(b, proxyB);
    try {
      const ext = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60 });
      const extendedAt = Date.now();
      const seen = await eventually(
        async () => timers.find((t) => (t.payload as TimerEvent).reason === 'change' && (t.payload as TimerEvent).deadlineAt === ext.deadlineAt),
        RESYNC_MS * 2 + 2000,
      );
      expect(seen.at - extendedAt).toBeLessThan(RESYNC_MS * 2 + 1000);

      await sleep(Math.max(0, oldDeadline + 500 - Date.now()));
      const q = exam.sections[0]!.questions[0]!;
      await expect(ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 })).resolves.toMatchObject({ seq: 1 });
    } finally {
      await proxyB.up();
    }
  });

  it('on a node that has not resynced yet, an answer past the cached deadline is checked against the database; Redis back: the timer follows', async () => {
    const exam = await shortExam(3, [students[1]!]);
    const { socket, started } = await startAttempt(c.url, students[1]!, exam.id);
    const attemptId = started.attempt.id;
    const oldDeadline = Date.parse(started.attempt.deadlineAt);
    const inv = await connectSocket(a.url, INVIGILATOR_NAMESPACE, admin.token);
    const timers = collect(socket, EXAM_EVENTS.timer);

    await cutRedis(c, proxyC);
    let ext: { deadlineAt: string };
    try {
      ext = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60 });
      await sleep(Math.max(0, oldDeadline + 500 - Date.now()));
      // Node C never heard of the extension (no resync, no Redis), yet the answer is accepted.
      expect(timers.some((t) => (t.payload as TimerEvent).deadlineAt === ext.deadlineAt)).toBe(false);
      const q = exam.sections[0]!.questions[0]!;
      await expect(ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 })).resolves.toMatchObject({ seq: 1 });
    } finally {
      await proxyC.up();
    }
    // The subscriber is back: C resyncs at once and the student's timer shows the extension.
    await eventually(async () => timers.some((t) => (t.payload as TimerEvent).reason === 'change' && (t.payload as TimerEvent).deadlineAt === ext.deadlineAt), 10_000);
  });
});

describe('an invigilator removal lost between nodes (item 4)', () => {
  it('the removed invigilator stops receiving the exam on the node that missed it; an admin keeps it', async () => {
    const exam = await shortExam(600, [students[2]!]);
    const assign = (emails: string[]) =>
      a.app.inject({ method: 'PUT', url: `/api/exams/${exam.id}/invigilators`, headers: admin.headers, payload: { emails } });
    expect((await assign([invigilator.email])).statusCode).toBe(200);
    const { socket, started } = await startAttempt(b.url, students[2]!, exam.id);
    const attemptId = started.attempt.id;
    const watchOn = async (user: TestUser): Promise<InvigilatorClientSocket> => {
      const s = await connectSocket(b.url, INVIGILATOR_NAMESPACE, user.token);
      await ok(s, INVIGILATOR_EVENTS.watch, { examId: exam.id });
      return s;
    };
    const removed = await watchOn(invigilator);
    const keeper = await watchOn(admin);
    const removedGot = collect(removed, INVIGILATOR_EVENTS.proctorEvent);
    const keeperGot = collect(keeper, INVIGILATOR_EVENTS.proctorEvent);
    await ok(socket, EXAM_EVENTS.proctor, { attemptId, type: 'focus_lost' });
    await eventually(async () => removedGot.length === 1 && keeperGot.length === 1);

    await cutRedis(b, proxyB);
    try {
      expect((await assign([])).statusCode).toBe(200);
      // B missed the message; within the resync period it re-checks the assignment.
      const room = () => b.app.invigilatorNsp.adapter.rooms.get(examRoom(exam.id));
      await eventually(async () => !room()?.has(removed.id!), RESYNC_MS * 2 + 2000);
      expect(room()?.has(keeper.id!)).toBe(true);
      await ok(socket, EXAM_EVENTS.proctor, { attemptId, type: 'paste' });
      await eventually(async () => keeperGot.length === 2);
      await sleep(300);
      expect(removedGot).toHaveLength(1);
      // And it may not watch again (as before).
      expect(await removed.emitWithAck(INVIGILATOR_EVENTS.watch, { examId: exam.id })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    } finally {
      await proxyB.up();
    }
  });

  it('a resync pass costs three statements whatever the number of sockets and exams: attempt states, assignments, roster rows', async () => {
    // Attempt states (with end reasons), the assignments of watched exams, and the roster rows of every
    // watched exam for the consoles (issue 9: rosters are resynced too; the third statement is that).
    const mine = (statements: string[]) =>
      statements.filter((q) => /from attempts a where a\.id = any|from "?exam_invigilators"?|from enrollments where exam_id = any/i.test(q));
    const before = mine((await b.app.queries.record(() => b.app.resync.run())).statements);
    expect(before).toHaveLength(3);
    // More sockets, attempts and watched exams: the same three statements.
    const more = await createUsers(a.app, 3, 'student');
    const exam = await shortExam(600, more);
    for (const student of more) await startAttempt(b.url, student, exam.id);
    const watcher = await connectSocket(b.url, INVIGILATOR_NAMESPACE, admin.token);
    await ok(watcher, INVIGILATOR_EVENTS.watch, { examId: exam.id });
    const after = mine((await b.app.queries.record(() => b.app.resync.run())).statements);
    expect(after).toHaveLength(3);
  });
});

describe('a console on a node that missed roster messages (issue 9, fault table 3c)', () => {
  it('periodic resync: the console gets the exam roster as the database says, without presence while Redis is away; the student the real end reason', async () => {
    const [onA1, onA2, onB] = (await createUsers(a.app, 3, 'student')) as [TestUser, TestUser, TestUser];
    const exam = await shortExam(600, [onA1, onA2, onB]);
    const console_ = await connectSocket(b.url, INVIGILATOR_NAMESPACE, admin.token);
    const rows = collectRoster(console_);
    await ok(console_, INVIGILATOR_EVENTS.watch, { examId: exam.id });
    const s1 = await startAttempt(a.url, onA1, exam.id);
    await startAttempt(a.url, onA2, exam.id);
    const s3 = await startAttempt(b.url, onB, exam.id);
    const ended = collect(s3.socket, EXAM_EVENTS.ended);
    const actor = await connectSocket(a.url, INVIGILATOR_NAMESPACE, admin.token);
    await eventually(async () => rows.some((r) => r.payload.student.id === onA2.id && r.payload.connected === true));

    await cutRedis(b, proxyB);
    let cutAt = 0;
    try {
      cutAt = Date.now();
      await ok(s1.socket, EXAM_EVENTS.submit, { attemptId: s1.started.attempt.id });
      await ok(actor, INVIGILATOR_EVENTS.terminate, { attemptId: s3.started.attempt.id, reason: 'Looked at a phone' });
      // B heard neither (its Redis is away); its periodic pass pushes the roster as the database says.
      const full = (studentId: number, status: string) =>
        rows.find((r) => r.at > cutAt && r.payload.student.id === studentId && r.payload.status === status && r.payload.answered !== undefined);
      const submitted = await eventually(async () => full(onA1.id, 'submitted'), RESYNC_MS * 2 + 2000);
      const terminated = await eventually(async () => full(onB.id, 'terminated'), RESYNC_MS * 2 + 2000);
      // Presence is unknown on B meanwhile: the push leaves `connected` out rather than showing A's students gone.
      expect(submitted.payload).not.toHaveProperty('connected');
      expect(terminated.payload).toMatchObject({ examId: exam.id, attemptId: s3.started.attempt.id, flags: 0, remainingMs: null });
      expect(rows.filter((r) => r.at > cutAt && r.payload.connected === false)).toEqual([]);
      // The student on B is told why, not a generic "terminated".
      await eventually(async () => ended.length > 0, RESYNC_MS * 2 + 2000);
      expect(ended.map((e) => e.payload)).toEqual([{ attemptId: s3.started.attempt.id, status: 'terminated', reason: 'Looked at a phone' }]);
    } finally {
      await proxyB.up();
    }
    // Redis back: once presence has settled (every node had the time to rewrite its entries,
    // PRESENCE_DEAD_AFTER_MS), the pushes carry `connected` again.
    const backAt = Date.now();
    await eventually(
      async () => rows.some((r) => r.at > backAt && r.payload.student.id === onA2.id && r.payload.status === 'in_progress' && r.payload.connected === true),
      6000 + RESYNC_MS * 2 + 2000,
    );
    // Told once: a later pass does not repeat it.
    await b.app.resync.run();
    expect(ended).toHaveLength(1);
  });
});
