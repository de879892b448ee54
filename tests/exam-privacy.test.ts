/**
 * The answer key never reaches a student before the attempt ends: a deep scan of every event and ack a
 * student receives, strict shapes of the exam view, and per-attempt shuffling that is stable on resume.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, type CreateExamBody, type ExamClientToServerEvents, type StudentExamView } from '../server/protocol.js';
import { createTestApp, examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { createExam, createUsers, keyLeaks, keyOf, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { connectSocket, nextEvent, okData, recordAll, request, requestRaw, type RequestPayload, type StudentSocket } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ redis: true, env: { TIMER_SYNC_MS: '1000' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

/** Neutral option texts, and the correct option in a different place in each question. */
function neutralExam(questions: number, extra: Partial<CreateExamBody> = {}): CreateExamBody {
  return {
    title: 'Neutral',
    durationSeconds: 600,
    sections: [
      {
        title: 'Only',
        questions: Array.from({ length: questions }, (_, q) => ({
          text: `Q${q + 1}`,
          points: 1 + (q % 2),
          options: ['A', 'B', 'C', 'D'].map((text, o) => ({ text, isCorrect: o === (q * 3 + 1) % 4 })),
        })),
      },
    ],
    ...extra,
  };
}

/** Exactly the fields of the contract's student view, nothing more, at every level. */
function expectStrictView(view: StudentExamView, admin: ExamAdminView): void {
  expect(Object.keys(view).sort()).toEqual(['id', 'sections', 'title']);
  for (const s of view.sections) {
    expect(Object.keys(s).sort()).toEqual(['id', 'questions', 'title']);
    for (const q of s.questions) {
      expect(Object.keys(q).sort()).toEqual(['id', 'options', 'points', 'text']);
      for (const o of q.options) expect(Object.keys(o).sort()).toEqual(['id', 'text']);
    }
  }
  // The same questions and options as authored (ids and texts), only without the key.
  const strip = (e: { sections: { questions: { id: number; text: string; points: number; options: { id: number; text: string }[] }[] }[] }) =>
    questionsOf(e)
      .map((q) => ({ id: q.id, text: q.text, points: q.points, options: q.options.map((o) => ({ id: o.id, text: o.text })).sort((a, b) => a.id - b.id) }))
      .sort((a, b) => a.id - b.id);
  expect(strip(view)).toEqual(strip(admin));
}

describe('the answer key', () => {
  it('is in no event or ack a student receives before the attempt ends', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, neutralExam(8), { enroll: [student] });
    const key = keyOf(exam);
    const received: { event: string; args: unknown[] }[] = [];
    const track = async (socket: StudentSocket) => {
      const seen = recordAll(socket);
      return { socket, seen };
    };
    const acks: unknown[] = [];
    const call = async <E extends keyof ExamClientToServerEvents>(socket: StudentSocket, event: E, payload: RequestPayload<StudentSocket, E>) => {
      const res = await request(socket, event, payload);
      acks.push(res);
      return res;
    };

    const tab1 = await track(await connectSocket(t.url, EXAM_NAMESPACE, student.token));
    const sync = nextEvent(tab1.socket, EXAM_EVENTS.timer, (e) => e.reason === 'sync', 3000);
    const started = okData(await call(tab1.socket, EXAM_EVENTS.start, { examId: exam.id }), EXAM_EVENTS.start);
    expect(started.ok).toBe(true);
    expectStrictView(started.exam, exam);
    const attemptId = started.attempt.id;

    // Right and wrong answers, clears, proctoring, a second tab resuming, a wrong question id.
    const qs = questionsOf(started.exam);
    const rightAck = await call(tab1.socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[0]!.id, optionId: key.get(qs[0]!.id)!.correct, seq: 1 });
    const wrongAck = await call(tab1.socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[1]!.id, optionId: key.get(qs[1]!.id)!.wrong[0]!, seq: 1 });
    // Right and wrong are acknowledged identically.
    expect(rightAck).toEqual({ ok: true, seq: 1 });
    expect(wrongAck).toEqual(rightAck);
    await call(tab1.socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[2]!.id, optionId: null, seq: 1 });
    await call(tab1.socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[3]!.id, optionId: key.get(qs[0]!.id)!.correct, seq: 1 });
    await call(tab1.socket, EXAM_EVENTS.proctor, { attemptId, type: 'visibility_hidden', detail: { ms: 1 } });
    const tab2 = await track(await connectSocket(t.url, EXAM_NAMESPACE, student.token));
    const resumed = okData(await call(tab2.socket, EXAM_EVENTS.start, { examId: exam.id }), EXAM_EVENTS.start);
    expectStrictView(resumed.exam, exam);
    expect(Object.keys(resumed.answers[0]!).sort()).toEqual(['optionId', 'questionId', 'seq']);
    await call(tab2.socket, EXAM_EVENTS.answer, { attemptId, questionId: 2_000_000_000, optionId: 1, seq: 1 });
    acks.push(await requestRaw(tab2.socket, 'bogus', {}));
    await sync;
    received.push(...tab1.seen, ...tab2.seen);
    expect(received.some((r) => r.event === 'timer')).toBe(true);

    const everything = [...acks, ...received];
    expect(keyLeaks(everything)).toEqual([]);
    // Nor in any value: no payload mentions correctness before the end.
    expect(JSON.stringify(everything)).not.toMatch(/correct/i);
    for (const r of received) expect(['timer']).toContain(r.event);

    // Even with a listing of the exams and the (refused) admin and result routes.
    const list = await t.app.inject({ url: '/api/exams', headers: student.headers });
    expect(list.statusCode).toBe(200);
    expect(keyLeaks(list.json())).toEqual([]);
    expect(list.body).not.toMatch(/correct|sections|options/i);
    expect((await t.app.inject({ url: `/api/exams/${exam.id}`, headers: student.headers })).statusCode).toBe(403);
    const early = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: student.headers });
    expect(early.statusCode).toBe(409);
    expect(early.body).not.toMatch(/correct/i);

    // After the end the student learns the score (and the result route the per-question outcome), never the key itself.
    const submitted = await call(tab1.socket, EXAM_EVENTS.submit, { attemptId });
    expect(submitted).toMatchObject({ ok: true, attempt: { status: 'submitted' } });
    expect(keyLeaks([...acks, ...tab1.seen, ...tab2.seen])).toEqual([]);
    const result = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: student.headers });
    expect(result.statusCode).toBe(200);
    expect(result.body).not.toMatch(/isCorrect|correctOptionId|answerKey/);
  });

  it('the demo exam (seeded) is served without the key too', async () => {
    const demo = await seed(t.app, 1);
    const token = await loginAs(t.app, 'student1@example.com');
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, token);
    const seen = recordAll(socket);
    const started = await request(socket, EXAM_EVENTS.start, { examId: demo.examId });
    expect(started).toMatchObject({ ok: true });
    expect(keyLeaks([started, ...seen])).toEqual([]);
    expect(JSON.stringify([started, ...seen])).not.toMatch(/isCorrect|correct_option|answerKey/i);
  });
});

describe('option ids', () => {
  it('do not give the key away: the right option is not the lowest id of its question, even when authors always write it first', async () => {
    // examBody() puts the right answer first in every question: the classic give-away through ids.
    const exam = await createExam(t.app, admin, examBody(60, 2));
    const questions = exam.sections.flatMap((s) => s.questions);
    expect(questions.every((q) => q.options[0]!.isCorrect)).toBe(true);
    const rank = (q: (typeof questions)[number]) => {
      const ids = q.options.map((o) => o.id).sort((a, b) => a - b);
      return ids.indexOf(q.options.find((o) => o.isCorrect)!.id);
    };
    const ranks = questions.map(rank);
    // With random creation order each of the 3 ranks turns up about 20 times in 60 questions; if ids
    // followed the author's order, all 60 would be rank 0 (chance of this failing: ~1e-10).
    expect(ranks.filter((r) => r === 0).length).toBeLessThan(45);
    expect(new Set(ranks).size).toBe(3);
  });
});

describe('shuffling', () => {
  it('gives students different orders and the same student the same order on every resume', async () => {
    const students = await createUsers(t.app, 3);
    const exam = await createExam(t.app, admin, examBody(30, 2, { shuffleQuestions: true, shuffleOptions: true }), { enroll: students });
    const views: StudentExamView[] = [];
    for (const s of students) {
      const { started } = await startAttempt(t.url, s, exam.id);
      expectStrictView(started.exam, exam);
      // Questions stay within their section.
      started.exam.sections.forEach((section) => {
        const authored = exam.sections.find((x) => x.id === section.id)!;
        expect(section.questions.map((q) => q.id).sort((a, b) => a - b)).toEqual(authored.questions.map((q) => q.id).sort((a, b) => a - b));
      });
      views.push(started.exam);
      // The resume on a new connection, and again on the same one: identical.
      const again = await startAttempt(t.url, s, exam.id);
      expect(again.started.exam).toEqual(started.exam);
      expect((await request(again.socket, EXAM_EVENTS.start, { examId: exam.id }))).toMatchObject({ ok: true, exam: started.exam });
    }
    const questionOrder = (v: StudentExamView) => questionsOf(v).map((q) => q.id).join(',');
    const optionOrder = (v: StudentExamView) => questionsOf(v).map((q) => q.options.map((o) => o.id).join('.')).sort().join(',');
    const authoredOrder = questionsOf(exam).map((q) => q.id).join(',');
    expect(new Set(views.map(questionOrder)).size).toBe(views.length);
    expect(new Set(views.map(optionOrder)).size).toBe(views.length);
    expect(views.every((v) => questionOrder(v) !== authoredOrder)).toBe(true);
    // The correct option (authored first) is not always first.
    const firstIsRight = questionsOf(views[0]!).filter((q) => keyOf(exam).get(q.id)!.correct === q.options[0]!.id).length;
    expect(firstIsRight).toBeLessThan(30);
  });

  it('keeps the authored order when the exam does not shuffle', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(10, 2), { enroll: [student] });
    const { started } = await startAttempt(t.url, student, exam.id);
    expect(questionsOf(started.exam).map((q) => q.id)).toEqual(questionsOf(exam).map((q) => q.id));
    expect(questionsOf(started.exam).map((q) => q.options.map((o) => o.id))).toEqual(questionsOf(exam).map((q) => q.options.map((o) => o.id)));
  });
});
