/** The socket rate limits come from the config (RATE_LIMIT_*), not from constants. */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, type TestUser } from './helpers/exam.js';
import { connectSocket, ok, request } from './helpers/sockets.js';

let t: TestApp;
let student: TestUser;
let examId: number;

beforeAll(async () => {
  t = await createTestApp({ env: { RATE_LIMIT_ANSWERS: '1/3' } });
  await t.listen();
  const [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
  [student] = (await createUsers(t.app, 1)) as [TestUser];
  examId = (await createExam(t.app, admin, examBody(5, 1), { enroll: [student] })).id;
});

describe('RATE_LIMIT_ANSWERS=1/3', () => {
  it('allows a burst of 3 answers, refuses the 4th with a retry hint of about a second', async () => {
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const started = await ok(socket, EXAM_EVENTS.start, { examId });
    const [q] = questionsOf(started.exam);
    const send = (seq: number) =>
      request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q!.id, optionId: q!.options[0]!.id, seq });
    const acks = [await send(1), await send(2), await send(3), await send(4)];
    expect(acks.slice(0, 3).every((a) => a.ok)).toBe(true);
    expect(acks[3]).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
    const fourth = acks[3]!;
    const retry = fourth.ok ? undefined : fourth.error.retryAfterMs;
    expect(retry).toBeGreaterThan(500);
    expect(retry).toBeLessThanOrEqual(1000);
  });
});
