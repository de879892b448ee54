/**
 * Statement budgets of the student path, counted with the app's query counter: start and resume,
 * one statement per answer batch whatever its size, submit, and the result route.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isTransactionControl } from '../server/db/query-counter.js';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, settle, startAttempt, type TestUser } from './helpers/exam.js';
import { countRows } from './helpers/pg.js';
import { connectSocket, ok } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  // The sweeper runs in the background and sends statements too: keep it out of the way here.
  // Progress updates for invigilators follow answers in the background: make them settle quickly (see settle()).
  t = await createTestApp({
    redis: true,
    env: { SWEEP_INTERVAL_MS: '60000', ANSWER_BATCH_SIZE: '500', ANSWER_FLUSH_MS: '5', PROGRESS_INTERVAL_MS: '50' },
  });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

const work = (statements: string[]) => statements.filter((s) => !isTransactionControl(s));
const show = (statements: string[]) => `\n${statements.join('\n')}`;

describe('attempt:start', () => {
  it('cold cache (new exam, first student): at most 4 statements; warm: at most 2 for a first start and for a resume', async () => {
    const students = await createUsers(t.app, 2);
    const exam = await createExam(t.app, admin, examBody(40, 4), { enroll: students });
    const [s1, s2] = students as [TestUser, TestUser];
    const sock1 = await connectSocket(t.url, EXAM_NAMESPACE, s1.token);
    const sock2 = await connectSocket(t.url, EXAM_NAMESPACE, s2.token);
    const loads = t.app.questions.stats.dbLoads;

    await settle(t.app);
    const cold = await t.app.queries.record(() => ok(sock1, EXAM_EVENTS.start, { examId: exam.id }));
    expect(cold.statements.length, show(cold.statements)).toBeGreaterThan(0);
    expect(cold.statements.length, show(cold.statements)).toBeLessThanOrEqual(4);
    expect(t.app.questions.stats.dbLoads).toBe(loads + 1);
    expect(questionsOf(cold.result.exam)).toHaveLength(40);

    await settle(t.app);
    const warm = await t.app.queries.record(() => ok(sock2, EXAM_EVENTS.start, { examId: exam.id }));
    expect(warm.statements.length, show(warm.statements)).toBeGreaterThan(0);
    expect(warm.statements.length, show(warm.statements)).toBeLessThanOrEqual(2);

    // A resume with saved answers.
    const q = questionsOf(cold.result.exam);
    for (const [i, question] of q.slice(0, 10).entries()) {
      await ok(sock1, EXAM_EVENTS.answer, { attemptId: cold.result.attempt.id, questionId: question.id, optionId: question.options[0]!.id, seq: i });
    }
    await settle(t.app);
    const resume = await t.app.queries.record(() => ok(sock1, EXAM_EVENTS.start, { examId: exam.id }));
    expect(resume.statements.length, show(resume.statements)).toBeLessThanOrEqual(2);
    expect(resume.result.answers).toHaveLength(10);
    expect(t.app.questions.stats.dbLoads).toBe(loads + 1);
  });
});

describe('answer batches', () => {
  let exam: Awaited<ReturnType<typeof createExam>>;
  let attemptIds: number[];

  beforeAll(async () => {
    const students = await createUsers(t.app, 3);
    exam = await createExam(t.app, admin, examBody(400, 4), { enroll: students });
    attemptIds = [];
    for (const s of students) {
      const { started, socket } = await startAttempt(t.url, s, exam.id);
      attemptIds.push(started.attempt.id);
      socket.disconnect();
    }
  });

  it.each([1, 50, 400])('a flush of %i answers is exactly one statement, and every answer is stored', async (n) => {
    const attemptId = attemptIds[[1, 50, 400].indexOf(n)]!;
    const questions = questionsOf(exam).slice(0, n);
    const { answers } = t.app;
    expect(answers.pending).toBe(0);
    await settle(t.app);
    const { result, statements } = await t.app.queries.record(() =>
      Promise.all(
        questions.map((q, i) => answers.enqueue({ attemptId, questionId: q.id, optionId: q.options[i % 3]!.id, seq: 1, answeredAt: new Date() })),
      ),
    );
    expect(result.every((r) => r === 'ok')).toBe(true);
    expect(work(statements), show(statements)).toHaveLength(1);
    expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [attemptId])).toBe(n);
  });

  it('answers streamed over sockets by several students are written in few statements', async () => {
    const students = await createUsers(t.app, 4);
    const small = await createExam(t.app, admin, examBody(20, 2), { enroll: students });
    const tabs = await Promise.all(students.map((s) => startAttempt(t.url, s, small.id)));
    const sends = tabs.flatMap(({ socket, started }) =>
      questionsOf(started.exam).map((q) => () => ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[1]!.id, seq: 1 })),
    );
    const { statements } = await t.app.queries.record(() => Promise.all(sends.map((send) => send())));
    // 80 answers: far fewer statements than answers (batched), none of them per-answer round trips.
    expect(work(statements).length, show(statements)).toBeLessThanOrEqual(10);
    expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = any($1::int[])', [tabs.map((x) => x.started.attempt.id)])).toBe(80);
  });
});

describe('submit and results', () => {
  it('submit: nothing buffered = no flush, at most 3 statements beyond BEGIN/COMMIT; with answers buffered, one more', async () => {
    const students = await createUsers(t.app, 2);
    const exam = await createExam(t.app, admin, examBody(10, 2), { enroll: students });
    const { attempts, answers } = t.app;

    const first = await startAttempt(t.url, students[0]!, exam.id);
    await settle(t.app);
    const idle = await t.app.queries.record(() => attempts.end(first.started.attempt.id, 'submit', { studentId: students[0]!.id }));
    expect(idle.result.result.attempt.status).toBe('submitted');
    // Nothing buffered: the flush before the submit is free.
    expect(idle.statements.filter((s) => /"?attempt_answers"? \(/.test(s)), show(idle.statements)).toEqual([]);
    expect(work(idle.statements).length, show(idle.statements)).toBeGreaterThan(0);
    expect(work(idle.statements).length, show(idle.statements)).toBeLessThanOrEqual(3);

    const second = await startAttempt(t.url, students[1]!, exam.id);
    const attemptId = second.started.attempt.id;
    const qs = questionsOf(second.started.exam);
    await settle(t.app);
    const buffered = qs.map((q) => answers.enqueue({ attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1, answeredAt: new Date() }));
    const busy = await t.app.queries.record(() => attempts.end(attemptId, 'submit', { studentId: students[1]!.id }));
    expect(await Promise.all(buffered)).toEqual(qs.map(() => 'ok'));
    expect(work(busy.statements).length, show(busy.statements)).toBeLessThanOrEqual(1 + 3);
    expect(busy.statements.filter((s) => /insert into "?attempt_answers"?/i.test(s)), show(busy.statements)).toHaveLength(1);
    // The flush came first: the score counts every buffered answer.
    expect(busy.result.result.attempt).toMatchObject({ status: 'submitted', score: exam.maxScore, maxScore: exam.maxScore });

    // Submitting again costs no more.
    const again = await t.app.queries.record(() => attempts.end(attemptId, 'submit', { studentId: students[1]!.id }));
    expect(work(again.statements).length, show(again.statements)).toBeLessThanOrEqual(3);
    expect(again.result.changed).toBe(false);
  });

  it('the result of one attempt takes at most 2 statements, whatever the number of answers', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(60, 3, { resultsRelease: 'immediate' }), { enroll: [student] });
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const attemptId = started.attempt.id;
    await Promise.all(
      questionsOf(started.exam).map((q) => t.app.answers.enqueue({ attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1, answeredAt: new Date() })),
    );
    await ok(socket, EXAM_EVENTS.submit, { attemptId });
    await settle(t.app);
    const { result: res, statements } = await t.app.queries.record(() => t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: student.headers }));
    expect(res.statusCode).toBe(200);
    expect(res.json().answers).toHaveLength(60);
    expect(statements.length, show(statements)).toBeGreaterThan(0);
    expect(statements.length, show(statements)).toBeLessThanOrEqual(2);
  });
});
