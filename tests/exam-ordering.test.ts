/**
 * Events of one socket take effect in the order they were sent: an answer emitted just before a
 * submit (without waiting for its ack) is stored and counted in the score, every time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, keyOf, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { connectSocket } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

describe('answer, then submit at once', () => {
  it('counts the answer in the score, 20 times out of 20', async () => {
    const students = await createUsers(t.app, 20);
    const exam = await createExam(t.app, admin, examBody(3, 1), { enroll: students });
    const key = keyOf(exam);
    for (const student of students) {
      const { started } = await startAttempt(t.url, student, exam.id);
      const attemptId = started.attempt.id;
      const q = questionsOf(started.exam)[0]!;
      // A fresh socket: nothing of the attempt is cached on it, so the answer's ownership check goes to
      // the database while the submit arrives right behind it.
      const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
      const answer = socket.timeout(5000).emitWithAck(EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: key.get(q.id)!.correct, seq: 1 });
      const submit = socket.timeout(5000).emitWithAck(EXAM_EVENTS.submit, { attemptId });
      const [answered, submitted] = await Promise.all([answer, submit]);
      expect(answered).toEqual({ ok: true, seq: 1 });
      expect(submitted).toMatchObject({ ok: true, attempt: { status: 'submitted', score: key.get(q.id)!.points } });
      socket.disconnect();
    }
  });
});
