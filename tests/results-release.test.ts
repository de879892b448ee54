/**
 * Per-question correctness reaches a student only when the exam's results-release rule says so
 * (`immediate`, `window_close` — the default — or `manual`), by the database's clock; the score is
 * never hidden, and invigilators and admins always see the marking.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../server/exam/authoring.js';
import { EXAM_EVENTS } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, keyOf, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { ok } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;
let invigilator: TestUser;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
  [invigilator] = (await createUsers(t.app, 1, 'invigilator')) as [TestUser];
});

/** A student who answers the first question right and submits; returns the attempt id. */
async function sit(exam: ExamAdminView, student: TestUser): Promise<number> {
  const { socket, started } = await startAttempt(t.url, student, exam.id);
  const q = questionsOf(started.exam)[0]!;
  await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: keyOf(exam).get(q.id)!.correct, seq: 1 });
  await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
  return started.attempt.id;
}

const resultOf = async (user: TestUser, attemptId: number) => {
  const res = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: user.headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ released: boolean; attempt: { score: number | null }; answers: { correct: boolean }[] }>();
};

describe('results release', () => {
  it('immediate: the student sees which answers were right as soon as the attempt ends', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(3, 1, { resultsRelease: 'immediate' }), { enroll: [student] });
    const mine = await resultOf(student, await sit(exam, student));
    expect(mine.released).toBe(true);
    expect(mine.answers).toEqual([expect.objectContaining({ correct: true })]);
  });

  it('window_close (the default): held back while the window is open, shown once it has closed', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const closesAt = new Date(Date.now() + 3600_000).toISOString();
    const exam = await createExam(t.app, admin, examBody(3, 1, { closesAt }), { enroll: [student] });
    expect(exam.resultsRelease).toBe('window_close');
    const attemptId = await sit(exam, student);
    const before = await resultOf(student, attemptId);
    expect(before.released).toBe(false);
    expect(before.answers).toEqual([]);
    expect(before.attempt.score).toBeGreaterThan(0);
    // Staff see the marking all along.
    expect((await resultOf(admin, attemptId)).answers).toHaveLength(1);

    // The window closes (by the database's clock).
    await sql(t.databaseUrl, `update exams set closes_at = now() - interval '1 second' where id = $1`, [exam.id]);
    const after = await resultOf(student, attemptId);
    expect(after.released).toBe(true);
    expect(after.answers).toEqual([expect.objectContaining({ correct: true })]);
  });

  it('manual: held back until an admin releases them; invigilators cannot release', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(3, 1, { resultsRelease: 'manual', closesAt: new Date(Date.now() + 5000).toISOString() }), {
      enroll: [student],
    });
    const attemptId = await sit(exam, student);
    await sql(t.databaseUrl, `update exams set closes_at = now() - interval '1 second' where id = $1`, [exam.id]);
    expect((await resultOf(student, attemptId)).released).toBe(false);

    const refused = await t.app.inject({ method: 'POST', url: `/api/exams/${exam.id}/results/release`, headers: invigilator.headers });
    expect(refused.statusCode).toBe(403);
    const released = await t.app.inject({ method: 'POST', url: `/api/exams/${exam.id}/results/release`, headers: admin.headers });
    expect(released.statusCode).toBe(200);
    expect(released.json<ExamAdminView>().resultsReleasedAt).toEqual(expect.any(String));
    expect((await resultOf(student, attemptId)).answers).toEqual([expect.objectContaining({ correct: true })]);
  });
});
