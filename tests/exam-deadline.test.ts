/**
 * The server-owned clock: deadlines set once at start (duration + extra time, capped by closesAt),
 * auto-submit by the sweeper with no browser connected, exactly once with two nodes sweeping, and
 * answers refused (and not stored) after deadline + grace.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, eventually, questionsOf, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { countRows, sql } from './helpers/pg.js';
import { connectSocket, nextEvent, request } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let admin: TestUser;

beforeAll(async () => {
  // Two nodes on one database and one Redis (same key prefix: one deployment), both sweeping often.
  const redis = { prefix: `test-${randomBytes(4).toString('hex')}:` };
  const env = { SWEEP_INTERVAL_MS: '200', TIMER_SYNC_MS: '1000' };
  a = await createTestApp({ redis, env });
  b = await createTestApp({ redis, env, databaseUrl: a.databaseUrl });
  await Promise.all([a.listen(), b.listen()]);
  [admin] = (await createUsers(a.app, 1, 'admin')) as [TestUser];
});

interface AttemptRow {
  id: number;
  status: string;
  started_at: Date;
  deadline_at: Date;
  submitted_at: Date | null;
  score: number | null;
  max_score: number | null;
}
const attemptRows = (ids: number[]) =>
  sql<AttemptRow>(
    a.databaseUrl,
    'select id, status, started_at, deadline_at, submitted_at, score, max_score from attempts where id = any($1::int[]) order by id',
    [ids],
  );
const autoSubmits = (id: number) => countRows(a.databaseUrl, "proctor_events where attempt_id = $1 and type = 'auto_submitted'", [id]);

const shortExam = (extra: Parameters<typeof examBody>[2] = {}) => examBody(4, 1, { durationSeconds: 2, gracePeriodSeconds: 0, ...extra });

describe('auto-submit at the deadline', () => {
  it('ends attempts whose browser is gone, exactly once with two nodes sweeping: expired, submitted_at = deadline, scored', async () => {
    const students = await createUsers(a.app, 6);
    const exam = await createExam(a.app, admin, shortExam(), { enroll: students });
    const attemptIds: number[] = [];
    for (const [i, student] of students.entries()) {
      // Half start on each node; each answers one question right, then the browser is gone.
      const { socket, started } = await startAttempt((i % 2 ? b : a).url, student, exam.id);
      const q = questionsOf(started.exam)[0]!;
      expect(await request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 })).toMatchObject({ ok: true });
      socket.disconnect();
      attemptIds.push(started.attempt.id);
    }
    expect((await attemptRows(attemptIds)).every((r) => r.status === 'in_progress')).toBe(true);

    const rows = await eventually(async () => {
      const r = await attemptRows(attemptIds);
      return r.every((x) => x.status !== 'in_progress') && r;
    });
    const points = questionsOf(exam)[0]!.points;
    for (const row of rows) {
      expect(row.status).toBe('expired');
      expect(row.submitted_at).toEqual(row.deadline_at);
      expect(row.deadline_at.getTime() - row.started_at.getTime()).toBe(2000);
      expect(row.score).toBe(points);
      expect(row.max_score).toBe(exam.maxScore);
    }
    // Let both nodes sweep a few more times: still one audit entry per attempt, nothing changed.
    await sleep(600);
    expect(await attemptRows(attemptIds)).toEqual(rows);
    for (const id of attemptIds) expect(await autoSubmits(id)).toBe(1);
    const [audit] = await sql(a.databaseUrl, "select actor_id, exam_id from proctor_events where attempt_id = $1 and type = 'auto_submitted'", [attemptIds[0]]);
    expect(audit).toEqual({ actor_id: null, exam_id: exam.id });
  });

  it('tells the connected student (on either node) attempt:ended {expired, deadline}; late answers are refused and not stored', async () => {
    const [student] = (await createUsers(a.app, 1)) as [TestUser];
    const exam = await createExam(a.app, admin, shortExam(), { enroll: [student] });
    const tabA = await startAttempt(a.url, student, exam.id);
    const tabB = await startAttempt(b.url, student, exam.id);
    const attemptId = tabA.started.attempt.id;
    expect(tabB.started.attempt.id).toBe(attemptId);
    const [q0, q1] = questionsOf(tabA.started.exam) as [(typeof tabA.started.exam.sections)[0]['questions'][0], (typeof tabA.started.exam.sections)[0]['questions'][0]];
    const endedA = nextEvent(tabA.socket, EXAM_EVENTS.ended, undefined, 8000);
    const endedB = nextEvent(tabB.socket, EXAM_EVENTS.ended, undefined, 8000);
    expect(await request(tabA.socket, EXAM_EVENTS.answer, { attemptId, questionId: q0.id, optionId: q0.options[0]!.id, seq: 1 })).toMatchObject({ ok: true });

    // Past the deadline (grace 0), before or after the sweep: refused either way.
    const deadline = new Date(tabA.started.attempt.deadlineAt).getTime();
    await sleep(Math.max(0, deadline - Date.now() + 50));
    const late = await request(tabA.socket, EXAM_EVENTS.answer, { attemptId, questionId: q1.id, optionId: q1.options[0]!.id, seq: 1 });
    expect(late).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(DEADLINE_PASSED|ATTEMPT_CLOSED)$/) } });

    for (const ev of await Promise.all([endedA, endedB])) expect(ev).toEqual({ attemptId, status: 'expired', reason: 'deadline' });
    const afterSweep = await request(tabB.socket, EXAM_EVENTS.answer, { attemptId, questionId: q1.id, optionId: q1.options[1]!.id, seq: 2 });
    expect(afterSweep).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(DEADLINE_PASSED|ATTEMPT_CLOSED)$/) } });
    // A fresh connection (the context comes from the database) is refused too.
    const fresh = await connectSocket(b.url, EXAM_NAMESPACE, student.token);
    const viaFresh = await request(fresh, EXAM_EVENTS.answer, { attemptId, questionId: q1.id, optionId: q1.options[2]!.id, seq: 3 });
    expect(viaFresh).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    expect(await request(fresh, EXAM_EVENTS.start, { examId: exam.id })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });

    expect(await sql(a.databaseUrl, 'select question_id, seq from attempt_answers where attempt_id = $1', [attemptId])).toEqual([{ question_id: q0.id, seq: 1 }]);
    const [row] = await attemptRows([attemptId]);
    expect(row).toMatchObject({ status: 'expired', score: q0.points });
    expect(row!.submitted_at).toEqual(row!.deadline_at);
    expect(await autoSubmits(attemptId)).toBe(1);
    // A submit now returns the ended attempt unchanged.
    const submitted = await request(fresh, EXAM_EVENTS.submit, { attemptId });
    expect(submitted).toMatchObject({ ok: true, attempt: { id: attemptId, status: 'expired', submittedAt: row!.deadline_at.toISOString() } });
  });

  it('the database refuses a late answer even when it reaches the writer (no socket-side check)', async () => {
    const [student] = (await createUsers(a.app, 1)) as [TestUser];
    const exam = await createExam(a.app, admin, examBody(2, 1, { durationSeconds: 1, gracePeriodSeconds: 0 }), { enroll: [student] });
    const { started, socket } = await startAttempt(a.url, student, exam.id);
    socket.disconnect();
    const q = questionsOf(started.exam)[0]!;
    await sleep(new Date(started.attempt.deadlineAt).getTime() - Date.now() + 50);
    const outcome = await a.app.answers.enqueue({
      attemptId: started.attempt.id,
      questionId: q.id,
      optionId: q.options[0]!.id,
      seq: 1,
      answeredAt: new Date(),
    });
    expect(['late', 'closed']).toContain(outcome);
    expect(await countRows(a.databaseUrl, 'attempt_answers where attempt_id = $1', [started.attempt.id])).toBe(0);
  });

  it('accepts answers within the grace period and auto-submits only after it', async () => {
    const [student] = (await createUsers(a.app, 1)) as [TestUser];
    const exam = await createExam(a.app, admin, examBody(2, 1, { durationSeconds: 1, gracePeriodSeconds: 1 }), { enroll: [student] });
    const { started, socket } = await startAttempt(a.url, student, exam.id);
    const attemptId = started.attempt.id;
    const q = questionsOf(started.exam)[0]!;
    const deadline = new Date(started.attempt.deadlineAt).getTime();
    await sleep(deadline - Date.now() + 250);
    expect(await request(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 })).toEqual({ ok: true, seq: 1 });
    expect((await attemptRows([attemptId]))[0]!.status).toBe('in_progress');
    const ended = await nextEvent(socket, EXAM_EVENTS.ended, undefined, 5000);
    expect(ended).toEqual({ attemptId, status: 'expired', reason: 'deadline' });
    const [row] = await attemptRows([attemptId]);
    expect(row).toMatchObject({ status: 'expired', score: q.points });
    expect(row!.submitted_at).toEqual(row!.deadline_at);
  });
});

describe('the deadline', () => {
  it('includes the enrollment extra time, and the timer tells it', async () => {
    const [plain, extra] = (await createUsers(a.app, 2)) as [TestUser, TestUser];
    const exam = await createExam(a.app, admin, examBody(2, 1, { durationSeconds: 600 }), {
      enroll: [plain, { email: extra.email, extraTimeSeconds: 90 }],
    });
    const socket = await connectSocket(a.url, EXAM_NAMESPACE, extra.token);
    const timer = nextEvent(socket, EXAM_EVENTS.timer);
    const started = await request(socket, EXAM_EVENTS.start, { examId: exam.id });
    if (!started.ok) throw new Error(started.error.code);
    const { attempt } = started;
    expect(new Date(attempt.deadlineAt).getTime() - new Date(attempt.startedAt).getTime()).toBe((600 + 90) * 1000);
    const t1 = await timer;
    expect(t1).toMatchObject({ attemptId: attempt.id, deadlineAt: attempt.deadlineAt, reason: 'start' });
    expect(t1.remainingMs).toBeGreaterThan(689_000);
    expect(t1.remainingMs).toBeLessThanOrEqual(690_000);
    // The periodic sync (TIMER_SYNC_MS=1000 here) repeats it.
    expect(await nextEvent(socket, EXAM_EVENTS.timer, (e) => e.reason === 'sync', 3000)).toMatchObject({ attemptId: attempt.id, deadlineAt: attempt.deadlineAt });

    const other = await startAttempt(b.url, plain, exam.id);
    const o = other.started.attempt;
    expect(new Date(o.deadlineAt).getTime() - new Date(o.startedAt).getTime()).toBe(600 * 1000);
    const [row] = await attemptRows([attempt.id]);
    expect(row!.deadline_at.toISOString()).toBe(attempt.deadlineAt);
  });

  it('is capped by closesAt; a closed exam cannot be started', async () => {
    const [student, late] = (await createUsers(a.app, 2)) as [TestUser, TestUser];
    const closesAt = new Date(Date.now() + 60_000);
    closesAt.setMilliseconds(0);
    const exam = await createExam(a.app, admin, examBody(2, 1, { durationSeconds: 3600, closesAt: closesAt.toISOString() }), {
      enroll: [{ email: student.email, extraTimeSeconds: 600 }, late],
    });
    const { started } = await startAttempt(a.url, student, exam.id);
    expect(started.attempt.deadlineAt).toBe(closesAt.toISOString());

    const closed = await createExam(a.app, admin, examBody(2, 1, { closesAt: new Date(Date.now() - 1000).toISOString() }), { enroll: [late] });
    const socket = await connectSocket(a.url, EXAM_NAMESPACE, late.token);
    expect(await request(socket, EXAM_EVENTS.start, { examId: closed.id })).toMatchObject({ ok: false, error: { code: 'EXAM_NOT_OPEN' } });
    expect(await countRows(a.databaseUrl, 'attempts where exam_id = $1', [closed.id])).toBe(0);
  });
});
