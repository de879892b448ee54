/**
 * Text PostgreSQL cannot store (a NUL character, an unpaired UTF-16 surrogate) is refused at the edge
 * with VALIDATION, on HTTP and on sockets, so it can never fail a write (and, batched with other
 * students' audit entries, fail theirs). Emoji and other astral characters are fine.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, INVIGILATOR_EVENTS } from '../server/protocol.js';
import { bearer, createTestApp, loginAs, seed, type TestApp } from './helpers/app.js';
import { settle } from './helpers/exam.js';
import { countRows } from './helpers/pg.js';
import { connectSocket, ok, requestRaw } from './helpers/sockets.js';

let t: TestApp;
let examId: number;
let studentToken: string;
let invigilatorToken: string;
let adminToken: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
  examId = (await seed(t.app, 2)).examId;
  studentToken = await loginAs(t.app, 'student1@example.com');
  invigilatorToken = await loginAs(t.app, 'invigilator@example.com');
  adminToken = await loginAs(t.app, 'admin@example.com');
});

const NUL = 'a\u0000b';
const LONE_HIGH = 'x\ud800y';
const LONE_LOW = '\udc00';

describe('text that cannot be stored', () => {
  it('is a VALIDATION error on HTTP bodies (login, authoring), not a 500', async () => {
    for (const email of [`student1${NUL}@example.com`, `${LONE_HIGH}@example.com`]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'demo1234' } });
      expect(res.statusCode, JSON.stringify(email)).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/cannot be stored/) });
    }
    const patch = await t.app.inject({ method: 'PATCH', url: `/api/exams/${examId}`, headers: bearer(adminToken), payload: { title: `Demo ${LONE_LOW}` } });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().error.code).toBe('VALIDATION');
  });

  it('is a VALIDATION error on socket events; nothing is written and auditing goes on', async () => {
    const student = await connectSocket(t.url, '/exam', studentToken);
    const invigilator = await connectSocket(t.url, '/invigilator', invigilatorToken);
    const { attempt } = await ok(student, EXAM_EVENTS.start, { examId });
    await settle(t.app);
    const before = await countRows(t.databaseUrl, 'proctor_events');

    const refused = [
      await requestRaw(student, EXAM_EVENTS.proctor, { attemptId: attempt.id, type: 'paste', detail: { text: NUL } }),
      await requestRaw(student, EXAM_EVENTS.proctor, { attemptId: attempt.id, type: 'paste', detail: { text: LONE_HIGH } }),
      await requestRaw(student, EXAM_EVENTS.proctor, { attemptId: attempt.id, type: 'paste', detail: { [NUL]: 1 } }),
      await requestRaw(invigilator, INVIGILATOR_EVENTS.message, { attemptId: attempt.id, text: LONE_LOW }),
      await requestRaw(invigilator, INVIGILATOR_EVENTS.terminate, { attemptId: attempt.id, reason: NUL }),
    ];
    for (const res of refused) expect(res).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(student.connected && invigilator.connected).toBe(true);
    await settle(t.app);
    expect(await countRows(t.databaseUrl, 'proctor_events')).toBe(before);

    // Astral characters are whole characters, and the audit log still takes entries.
    await ok(student, EXAM_EVENTS.proctor, { attemptId: attempt.id, type: 'paste', detail: { text: 'copied 😀 text' } });
    await ok(invigilator, INVIGILATOR_EVENTS.message, { attemptId: attempt.id, text: 'Eyes on your own paper 👀' });
    await settle(t.app);
    expect(await countRows(t.databaseUrl, 'proctor_events')).toBe(before + 2);
  });
});
