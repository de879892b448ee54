/**
 * Who may do what on `/exam`: the handshake (token, role, origin), the exam gates (enrolled,
 * published, open), ownership of attempts (someone else's is indistinguishable from a missing one),
 * strict payload validation that never breaks the socket, and the per-socket rate limits.
 */
import { createSigner } from 'fast-jwt';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../server/auth/tokens.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, type ExamClientToServerEvents } from '../server/protocol.js';
import { TEST_JWT_SECRET, createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { countRows, sql } from './helpers/pg.js';
import {
  connectSocket,
  ok,
  request,
  requestRaw,
  untyped,
  type ProctorRequestPayload,
  type RequestOf,
  type StudentSocket,
} from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;
let invigilator: TestUser;

beforeAll(async () => {
  // The payload-validation tests send dozens of bad proctor events for one student (limits are per user).
  t = await createTestApp({ redis: true, env: { RATE_LIMIT_PROCTOR: '100/200' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
  [invigilator] = (await createUsers(t.app, 1, 'invigilator')) as [TestUser];
});

/** The `connect_error` message of a refused connection (fails when it connects). */
async function refusal(url: string, token: string | undefined, opts: { origin?: string } = {}): Promise<string> {
  try {
    const socket = await connectSocket(url, EXAM_NAMESPACE, token, opts);
    socket.disconnect();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the connection was accepted');
}

function forge(sub: number, opts: { role?: string; key?: string; clockTimestamp?: number; expiresIn?: number; iss?: string } = {}): string {
  const sign = createSigner({
    key: opts.key ?? TEST_JWT_SECRET,
    algorithm: 'HS256',
    iss: opts.iss ?? TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    expiresIn: opts.expiresIn ?? 60_000,
    ...(opts.clockTimestamp !== undefined ? { clockTimestamp: opts.clockTimestamp } : {}),
  });
  return sign({ sub: String(sub), role: opts.role ?? 'student', name: 'Forged' });
}

describe('the handshake', () => {
  it('refuses a missing, malformed, forged or expired token with UNAUTHORIZED', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    expect(await refusal(t.url, undefined)).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, '')).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, 'not-a-jwt')).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, forge(student.id, { key: 'another-secret-another-secret-another-secret' }))).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, forge(student.id, { iss: 'someone-else' }))).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, forge(student.id, { clockTimestamp: Date.now() - 3_600_000, expiresIn: 60_000 }))).toBe('UNAUTHORIZED');
    expect(await refusal(t.url, forge(student.id, { role: 'superuser' }))).toBe('UNAUTHORIZED');
    // The same student with a good token gets in: the refusals were about the token.
    (await connectSocket(t.url, EXAM_NAMESPACE, forge(student.id))).disconnect();
    (await connectSocket(t.url, EXAM_NAMESPACE, student.token)).disconnect();
  });

  it('refuses invigilators and admins on /exam with FORBIDDEN', async () => {
    expect(await refusal(t.url, invigilator.token)).toBe('FORBIDDEN');
    expect(await refusal(t.url, admin.token)).toBe('FORBIDDEN');
  });

  it('refuses a browser Origin that is not allowed; accepts its own origin, an allowed one and none', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    await expect(connectSocket(t.url, EXAM_NAMESPACE, student.token, { origin: 'http://evil.example' })).rejects.toThrow();
    await expect(connectSocket(t.url, EXAM_NAMESPACE, student.token, { origin: 'null' })).rejects.toThrow();
    // Same host, other port: another origin.
    await expect(connectSocket(t.url, EXAM_NAMESPACE, student.token, { origin: 'http://127.0.0.1:1' })).rejects.toThrow();
    (await connectSocket(t.url, EXAM_NAMESPACE, student.token, { origin: t.url })).disconnect();
    (await connectSocket(t.url, EXAM_NAMESPACE, student.token)).disconnect();

    const listed = await createTestApp({ databaseUrl: t.databaseUrl, env: { ALLOWED_ORIGINS: 'https://exam.example.org' } });
    await listed.listen();
    (await connectSocket(listed.url, EXAM_NAMESPACE, student.token, { origin: 'https://exam.example.org' })).disconnect();
    (await connectSocket(listed.url, EXAM_NAMESPACE, student.token, { origin: listed.url })).disconnect();
    await expect(connectSocket(listed.url, EXAM_NAMESPACE, student.token, { origin: 'http://evil.example' })).rejects.toThrow();
    await expect(connectSocket(listed.url, EXAM_NAMESPACE, student.token, { origin: 'https://exam.example.org.evil.example' })).rejects.toThrow();
  });
});

describe('the exam gates of attempt:start', () => {
  it('NOT_ENROLLED, NOT_FOUND (unpublished or missing), EXAM_NOT_OPEN, and nothing is written', async () => {
    const [student, enrolled] = (await createUsers(t.app, 2)) as [TestUser, TestUser];
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const start = (examId: number) => request(socket, EXAM_EVENTS.start, { examId });

    const notMine = await createExam(t.app, admin, examBody(2, 1), { enroll: [enrolled] });
    expect(await start(notMine.id)).toMatchObject({ ok: false, error: { code: 'NOT_ENROLLED' } });

    const unpublished = await createExam(t.app, admin, examBody(2, 1), { publish: false, enroll: [student] });
    const missing = await start(2_000_000_000);
    expect(missing).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    // An unpublished exam looks exactly like a missing one.
    expect(await start(unpublished.id)).toEqual(missing);

    const future = await createExam(t.app, admin, examBody(2, 1, { opensAt: new Date(Date.now() + 3_600_000).toISOString() }), { enroll: [student] });
    const notOpen = await start(future.id);
    expect(notOpen).toMatchObject({ ok: false, error: { code: 'EXAM_NOT_OPEN' } });
    expect(JSON.stringify(notOpen)).not.toMatch(/Question|right|wrong/);

    expect(await countRows(t.databaseUrl, 'attempts where student_id = $1', [student.id])).toBe(0);
    // And an open one works on the same socket.
    const open = await createExam(t.app, admin, examBody(2, 1, { opensAt: new Date(Date.now() - 60_000).toISOString() }), { enroll: [student] });
    expect(await start(open.id)).toMatchObject({ ok: true, attempt: { status: 'in_progress' } });
  });
});

describe("someone else's attempt", () => {
  it('answer, submit and proctor:event get NOT_FOUND, exactly as for a missing attempt, and change nothing', async () => {
    const [owner, intruder] = (await createUsers(t.app, 2)) as [TestUser, TestUser];
    const exam = await createExam(t.app, admin, examBody(3, 1), { enroll: [owner, intruder] });
    const mine = await startAttempt(t.url, owner, exam.id);
    const theirs = await startAttempt(t.url, intruder, exam.id);
    const attemptId = mine.started.attempt.id;
    const q = questionsOf(mine.started.exam)[0]!;
    const missingId = 2_000_000_000;

    for (const socket of [theirs.socket, await connectSocket(t.url, EXAM_NAMESPACE, intruder.token)]) {
      const requests = (id: number): RequestOf<StudentSocket>[] => [
        [EXAM_EVENTS.answer, { attemptId: id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 }],
        [EXAM_EVENTS.submit, { attemptId: id }],
        [EXAM_EVENTS.proctor, { attemptId: id, type: 'focus_lost' }],
      ];
      const forMissing = requests(missingId);
      for (const [i, [event, payload]] of requests(attemptId).entries()) {
        const foreign = await request(socket, event, payload);
        const missing = await request(socket, event, forMissing[i]![1]);
        expect(foreign, event).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
        expect(foreign, event).toEqual(missing);
      }
    }
    expect(await sql(t.databaseUrl, 'select status from attempts where id = $1', [attemptId])).toEqual([{ status: 'in_progress' }]);
    expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [attemptId])).toBe(0);
    expect(await countRows(t.databaseUrl, 'proctor_events where attempt_id = $1', [attemptId])).toBe(0);

    // The result route: 404 for someone else's (ended) attempt, the same body as for a missing id.
    await ok(mine.socket, EXAM_EVENTS.submit, { attemptId });
    const own = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: owner.headers });
    expect(own.statusCode).toBe(200);
    const foreign = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: intruder.headers });
    const missing = await t.app.inject({ url: `/api/attempts/${missingId}/result`, headers: intruder.headers });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).toBe(missing.body);
    expect(foreign.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
    // An invigilator not assigned to the exam sees nothing either.
    const unassigned = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: invigilator.headers });
    expect(unassigned.statusCode).toBe(404);
    expect(unassigned.body).toBe(missing.body);
  });
});

describe('payload validation', () => {
  async function setup() {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(3, 1), { enroll: [student] });
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const writes = async () => ({
      attempts: await countRows(t.databaseUrl, 'attempts where student_id = $1', [student.id]),
      answers: await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [started.attempt.id]),
      events: await countRows(t.databaseUrl, 'proctor_events where attempt_id = $1', [started.attempt.id]),
      status: (await sql(t.databaseUrl, 'select status from attempts where id = $1', [started.attempt.id]))[0]!.status,
    });
    return { student, exam, socket, started, attemptId: started.attempt.id, q: questionsOf(started.exam)[0]!, writes };
  }

  /** Sends every payload on a socket of its own and expects VALIDATION for each, the socket still connected. */
  async function expectRefused(socket: StudentSocket, event: keyof ExamClientToServerEvents, payloads: unknown[]): Promise<void> {
    for (const payload of payloads) {
      const res = await requestRaw(socket, event, payload);
      expect(res, `${event} ${JSON.stringify(payload)?.slice(0, 100)}`).toEqual({
        ok: false,
        error: { code: 'VALIDATION', message: expect.any(String), details: expect.any(Array) },
      });
      expect(socket.connected).toBe(true);
    }
  }

  const notObjects = [null, 'x', 42, true, [], [1, 2]];

  it('attempt:start', async () => {
    const { student, exam, writes, attemptId } = await setup();
    const before = await writes();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    await expectRefused(socket, EXAM_EVENTS.start, [
      ...notObjects,
      {},
      { examId: String(exam.id) },
      { examId: -exam.id },
      { examId: 0 },
      { examId: exam.id + 0.5 },
      { examId: 2 ** 40 },
      { examId: null },
      { examId: exam.id, extra: true },
    ]);
    expect(await writes()).toEqual(before);
    expect((await ok(socket, EXAM_EVENTS.start, { examId: exam.id })).attempt.id).toBe(attemptId);
  });

  it('answer', async () => {
    const { student, writes, attemptId, q } = await setup();
    const before = await writes();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const good = { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 };
    const without = (k: keyof typeof good) => Object.fromEntries(Object.entries(good).filter(([key]) => key !== k));
    await expectRefused(socket, EXAM_EVENTS.answer, [
      ...notObjects,
      {},
      without('attemptId'),
      without('questionId'),
      without('optionId'),
      without('seq'),
      { ...good, attemptId: String(attemptId) },
      { ...good, questionId: String(q.id) },
      { ...good, optionId: String(good.optionId) },
      { ...good, seq: '1' },
      { ...good, attemptId: -attemptId },
      { ...good, questionId: -q.id },
      { ...good, optionId: -1 },
      { ...good, optionId: 0 },
      { ...good, seq: -1 },
      { ...good, seq: 1.5 },
      { ...good, seq: 2 ** 31 },
      { ...good, optionId: [good.optionId] },
      { ...good, optionId: { id: good.optionId } },
      { ...good, correct: true },
      { ...good, studentId: 1 },
    ]);
    expect(await writes()).toEqual(before);
    expect(await request(socket, EXAM_EVENTS.answer, good)).toEqual({ ok: true, seq: 1 });
    expect((await writes()).answers).toBe(1);
  });

  it('proctor:event', async () => {
    const { student, writes, attemptId } = await setup();
    const before = await writes();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const good: ProctorRequestPayload = { attemptId, type: 'focus_lost' };
    // Two sockets: proctoring events have the smallest rate budget (20 at once).
    const first = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    await expectRefused(first, EXAM_EVENTS.proctor, [...notObjects, {}]);
    expect(await request(first, EXAM_EVENTS.proctor, { ...good, type: 'focus_gained' })).toEqual({ ok: true });
    await expectRefused(socket, EXAM_EVENTS.proctor, [
      { type: 'focus_lost' },
      { attemptId },
      { ...good, attemptId: String(attemptId) },
      { ...good, attemptId: -1 },
      { ...good, type: 'not_a_type' },
      { ...good, detail: 'text' },
      { ...good, detail: [1, 2] },
      { ...good, detail: { nested: { deep: true } } },
      { ...good, detail: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i])) },
      { ...good, detail: { note: 'x'.repeat(501) } },
      { ...good, detail: { ['k'.repeat(65)]: 1 } },
      // Large, yet below the socket message limit: refused by the schema, the connection stays.
      { ...good, detail: { a: 'x'.repeat(20_000), b: 'y'.repeat(20_000) } },
      { ...good, extra: 1 },
    ]);
    expect(await writes()).toEqual({ ...before, events: 1 });
    expect(await request(socket, EXAM_EVENTS.proctor, { ...good, detail: { note: 'x'.repeat(500), ['k'.repeat(64)]: 1 } })).toEqual({ ok: true });
    expect((await writes()).events).toBe(2);
  });

  it('submit', async () => {
    const { student, writes, attemptId } = await setup();
    const before = await writes();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    await expectRefused(socket, EXAM_EVENTS.submit, [
      ...notObjects,
      {},
      { attemptId: String(attemptId) },
      { attemptId: -attemptId },
      { attemptId: 0 },
      { attemptId: attemptId + 0.25 },
      { attemptId, force: true },
    ]);
    expect(await writes()).toEqual(before);
    expect(await request(socket, EXAM_EVENTS.submit, { attemptId })).toMatchObject({ ok: true, attempt: { id: attemptId, status: 'submitted' } });
  });

  it('an event sent with an ack but no payload at all is refused, not left unanswered', async () => {
    const { student, attemptId, writes } = await setup();
    const before = await writes();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    for (const event of [EXAM_EVENTS.start, EXAM_EVENTS.answer, EXAM_EVENTS.submit, EXAM_EVENTS.proctor]) {
      const res: unknown = await untyped(socket).timeout(3000).emitWithAck(event);
      expect(res, event).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    expect(await writes()).toEqual(before);
    expect(await request(socket, EXAM_EVENTS.proctor, { attemptId, type: 'paste' })).toEqual({ ok: true });
  });

  it('an unknown event with an ack gets VALIDATION; without one it is ignored; the socket stays usable', async () => {
    const { student, exam } = await setup();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    expect(await requestRaw(socket, 'attempt:destroy', { examId: exam.id })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await requestRaw(socket, INVIGILATOR_EVENTS.watch, { examId: exam.id })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    untyped(socket).emit('whatever', { a: 1 });
    untyped(socket).emit(EXAM_EVENTS.answer, { nonsense: true });
    expect(await request(socket, EXAM_EVENTS.start, { examId: exam.id })).toMatchObject({ ok: true });
  });

  it('a message over the size limit closes only that connection', async () => {
    const { student, exam, attemptId } = await setup();
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
    untyped(socket).emit(EXAM_EVENTS.proctor, { attemptId, type: 'paste', detail: { a: 'x'.repeat(100_000) } });
    await closed;
    expect(await countRows(t.databaseUrl, 'proctor_events where attempt_id = $1', [attemptId])).toBe(0);
    const again = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    expect(await request(again, EXAM_EVENTS.start, { examId: exam.id })).toMatchObject({ ok: true });
  });
});

describe('rate limits', () => {
  it('a burst of answers from one socket gets RATE_LIMITED with retryAfterMs; waiting that long is served again', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(10, 1), { enroll: [student] });
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const attemptId = started.attempt.id;
    const qs = questionsOf(started.exam);
    const acks = await Promise.all(
      Array.from({ length: 150 }, (_, i) => {
        const q = qs[i % qs.length]!;
        return request(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[i % 3]!.id, seq: i });
      }),
    );
    const accepted = acks.filter((a) => a.ok);
    const limited = acks.flatMap((a) => (!a.ok && a.error.code === 'RATE_LIMITED' ? [a.error] : []));
    expect(accepted.length + limited.length).toBe(150);
    expect(accepted.length).toBeGreaterThanOrEqual(100);
    expect(limited.length).toBeGreaterThan(0);
    for (const e of limited) {
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(e.retryAfterMs).toBeLessThanOrEqual(1000);
    }
    // Every accepted answer is stored (the refused ones may not be).
    const rows = await sql<{ question_id: number; seq: number }>(t.databaseUrl, 'select question_id, seq from attempt_answers where attempt_id = $1', [attemptId]);
    expect(rows).toHaveLength(qs.length);

    const last = limited[limited.length - 1]!;
    await sleep(last.retryAfterMs!);
    const q = qs[0]!;
    expect(await request(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1000 })).toEqual({ ok: true, seq: 1000 });
    // The limit is per user: another tab of the same student brings no budget of its own.
    const other = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const fromOther = await Promise.all(
      [1001, 1002, 1003, 1004, 1005].map((seq) => request(other, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[1]!.id, seq })),
    );
    // Whatever trickled back into the shared bucket meanwhile (10 a second), not a fresh burst of 100.
    expect(fromOther.filter((a) => !a.ok && a.error.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(3);
  });

  it('start and submit share a smaller budget', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(2, 1), { enroll: [student] });
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const acks = await Promise.all(Array.from({ length: 30 }, () => request(socket, EXAM_EVENTS.start, { examId: exam.id })));
    const limited = acks.flatMap((a) => (!a.ok ? [a.error] : []));
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((e) => e.code === 'RATE_LIMITED' && e.retryAfterMs! > 0)).toBe(true);
    expect(new Set(acks.flatMap((a) => (a.ok ? [a.attempt.id] : []))).size).toBe(1);
    await sleep(Math.max(...limited.map((e) => e.retryAfterMs!)));
    expect(await request(socket, EXAM_EVENTS.start, { examId: exam.id })).toMatchObject({ ok: true });
  });
});
