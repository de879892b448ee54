/**
 * The student's path over real sockets: start and resume, streaming answers (highest seq wins, durable
 * before the ack), submit, scoring and the result, proctoring signals.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, type AttemptEndedEvent, type StudentExamView } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, keyOf, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { connectSocket, nextEvent, ok, request, requestRaw, type StudentSocket } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ redis: true });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

type Q = StudentExamView['sections'][number]['questions'][number];

interface StoredAnswer {
  attempt_id: number;
  question_id: number;
  option_id: number | null;
  seq: number;
  answered_at: Date;
}

const storedAnswers = (attemptIds: number[]) =>
  sql<StoredAnswer>(
    t.databaseUrl,
    'select attempt_id, question_id, option_id, seq, answered_at from attempt_answers where attempt_id = any($1::int[]) order by attempt_id, question_id',
    [attemptIds],
  );

const answer = (socket: StudentSocket, attemptId: number, questionId: number, optionId: number | null, seq: number) =>
  request(socket, EXAM_EVENTS.answer, { attemptId, questionId, optionId, seq });

async function examFor(students: TestUser[], questions = 6, sections = 2): Promise<ExamAdminView> {
  return createExam(t.app, admin, examBody(questions, sections, { resultsRelease: 'immediate' }), { enroll: students });
}

describe('start and resume', () => {
  it('returns the same attempt and the saved answers (highest seq), on the same socket, a second socket and after a reconnect', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await examFor([student]);
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    expect(started.attempt).toEqual({
      id: expect.any(Number),
      status: 'in_progress',
      startedAt: expect.any(String),
      deadlineAt: expect.any(String),
      serverNow: expect.any(String),
    });
    expect(started.answers).toEqual([]);
    const attemptId = started.attempt.id;
    const [q0, q1, q2, q3] = questionsOf(started.exam) as [Q, Q, Q, Q];
    const opt = (q: Q, i: number) => q.options[i]!.id;

    expect(await answer(socket, attemptId, q0.id, opt(q0, 1), 1)).toEqual({ ok: true, seq: 1 });
    expect(await answer(socket, attemptId, q0.id, opt(q0, 2), 3)).toEqual({ ok: true, seq: 3 });
    // Older than what is stored: acknowledged (the client may forget it) but never written.
    expect(await answer(socket, attemptId, q0.id, opt(q0, 0), 2)).toEqual({ ok: true, seq: 2 });
    expect(await answer(socket, attemptId, q1.id, opt(q1, 0), 1)).toEqual({ ok: true, seq: 1 });
    expect(await answer(socket, attemptId, q1.id, null, 2)).toEqual({ ok: true, seq: 2 });
    expect(await answer(socket, attemptId, q2.id, opt(q2, 2), 7)).toEqual({ ok: true, seq: 7 });

    const expected = [
      { questionId: q0.id, optionId: opt(q0, 2), seq: 3 },
      { questionId: q1.id, optionId: null, seq: 2 },
      { questionId: q2.id, optionId: opt(q2, 2), seq: 7 },
    ].sort((a, b) => a.questionId - b.questionId);

    // The same socket again.
    const again = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
    expect(again.attempt.id).toBe(attemptId);
    expect(again.attempt.startedAt).toBe(started.attempt.startedAt);
    expect(again.attempt.deadlineAt).toBe(started.attempt.deadlineAt);
    expect(again.answers).toEqual(expected);
    expect(again.exam).toEqual(started.exam);

    // A second tab, while the first is still connected.
    const { socket: tab2, started: viaTab2 } = await startAttempt(t.url, student, exam.id);
    expect(viaTab2.attempt.id).toBe(attemptId);
    expect(viaTab2.attempt.deadlineAt).toBe(started.attempt.deadlineAt);
    expect(viaTab2.answers).toEqual(expected);

    // Both tabs write; then everything drops and the student comes back on a new connection.
    expect(await answer(tab2, attemptId, q3.id, opt(q3, 1), 1)).toEqual({ ok: true, seq: 1 });
    expect(await answer(socket, attemptId, q2.id, opt(q2, 0), 8)).toEqual({ ok: true, seq: 8 });
    socket.disconnect();
    tab2.disconnect();
    const { started: back } = await startAttempt(t.url, student, exam.id);
    expect(back.attempt.id).toBe(attemptId);
    expect(back.answers).toEqual(
      [
        { questionId: q0.id, optionId: opt(q0, 2), seq: 3 },
        { questionId: q1.id, optionId: null, seq: 2 },
        { questionId: q2.id, optionId: opt(q2, 0), seq: 8 },
        { questionId: q3.id, optionId: opt(q3, 1), seq: 1 },
      ].sort((a, b) => a.questionId - b.questionId),
    );
    // One attempt row, whatever the number of starts.
    expect(await sql(t.databaseUrl, 'select id from attempts where student_id = $1', [student.id])).toEqual([{ id: attemptId }]);
  });

  it('two tabs starting at the same instant get one attempt', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await examFor([student]);
    const sockets = await Promise.all([1, 2, 3].map(() => connectSocket(t.url, EXAM_NAMESPACE, student.token)));
    const starts = await Promise.all(sockets.map((s) => ok(s, EXAM_EVENTS.start, { examId: exam.id })));
    expect(new Set(starts.map((s) => s.attempt.id)).size).toBe(1);
    expect(new Set(starts.map((s) => s.attempt.deadlineAt)).size).toBe(1);
  });
});

describe('streaming answers', () => {
  it('stores every acknowledged answer with the highest seq, from many sockets at once, out of order', async () => {
    const students = await createUsers(t.app, 4);
    const exam = await examFor(students, 25, 3);
    const tabs = await Promise.all(
      students.map(async (s) => {
        const first = await startAttempt(t.url, s, exam.id);
        const second = await startAttempt(t.url, s, exam.id);
        return { attemptId: first.started.attempt.id, view: first.started.exam, sockets: [first.socket, second.socket] };
      }),
    );

    // Every student answers every question twice (seq 1 and 2), a fifth of them clearing it last;
    // 4 students x 25 questions x 2 = 200 answers, shuffled, spread over both tabs, all in flight at once.
    type Send = { socket: StudentSocket; attemptId: number; questionId: number; optionId: number | null; seq: number };
    const sends: Send[] = [];
    const expected: { attempt_id: number; question_id: number; option_id: number | null; seq: number }[] = [];
    for (const tab of tabs) {
      questionsOf(tab.view).forEach((q, i) => {
        for (const seq of [1, 2]) {
          const optionId = seq === 2 && i % 5 === 0 ? null : q.options[(i + seq) % q.options.length]!.id;
          sends.push({ socket: tab.sockets[(i + seq) % 2]!, attemptId: tab.attemptId, questionId: q.id, optionId, seq });
          if (seq === 2) expected.push({ attempt_id: tab.attemptId, question_id: q.id, option_id: optionId, seq });
        }
      });
    }
    expect(sends).toHaveLength(200);
    const order = sends.map((s, i) => ({ s, k: (i * 7919) % 200 })).sort((a, b) => a.k - b.k).map((x) => x.s);
    const acks = await Promise.all(order.map((s) => answer(s.socket, s.attemptId, s.questionId, s.optionId, s.seq)));
    acks.forEach((ack, i) => expect(ack).toEqual({ ok: true, seq: order[i]!.seq }));

    const attemptIds = tabs.map((tab) => tab.attemptId);
    const rows = (await storedAnswers(attemptIds)).map(({ answered_at: _, ...r }) => r);
    expected.sort((a, b) => a.attempt_id - b.attempt_id || a.question_id - b.question_id);
    expect(rows).toEqual(expected);

    // A replay of everything (a client re-sending after a reconnect) is acknowledged and changes nothing.
    const before = await storedAnswers(attemptIds);
    const replays = await Promise.all(order.map((s) => answer(s.socket, s.attemptId, s.questionId, s.optionId, s.seq)));
    expect(replays.every((r) => r.ok)).toBe(true);
    expect(await storedAnswers(attemptIds)).toEqual(before);
  });

  it('an older seq after a newer one is acknowledged but never overwrites; a replay is harmless; null clears', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await examFor([student], 3, 1);
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const attemptId = started.attempt.id;
    const q = questionsOf(started.exam)[0]!;
    const [a, b, c] = q.options.map((o) => o.id) as [number, number, number];

    expect(await answer(socket, attemptId, q.id, b, 10)).toEqual({ ok: true, seq: 10 });
    const [first] = await storedAnswers([attemptId]);
    expect(first).toMatchObject({ question_id: q.id, option_id: b, seq: 10 });

    expect(await answer(socket, attemptId, q.id, c, 9)).toEqual({ ok: true, seq: 9 });
    expect(await answer(socket, attemptId, q.id, a, 0)).toEqual({ ok: true, seq: 0 });
    expect(await storedAnswers([attemptId])).toEqual([first]);

    // Same seq again (even with another option: a replay must not change the stored row, nor its time).
    expect(await answer(socket, attemptId, q.id, b, 10)).toEqual({ ok: true, seq: 10 });
    expect(await answer(socket, attemptId, q.id, c, 10)).toEqual({ ok: true, seq: 10 });
    expect(await storedAnswers([attemptId])).toEqual([first]);

    // Several seqs of one question in flight together (one batch): the highest is stored.
    const burst = await Promise.all([13, 11, 14, 12].map((seq) => answer(socket, attemptId, q.id, seq === 14 ? c : a, seq)));
    expect(burst.every((r) => r.ok)).toBe(true);
    expect(await storedAnswers([attemptId])).toMatchObject([{ option_id: c, seq: 14 }]);

    // Clearing.
    expect(await answer(socket, attemptId, q.id, null, 15)).toEqual({ ok: true, seq: 15 });
    expect(await storedAnswers([attemptId])).toMatchObject([{ question_id: q.id, option_id: null, seq: 15 }]);
    // A question answered with null first is stored too.
    const q2 = questionsOf(started.exam)[1]!;
    expect(await answer(socket, attemptId, q2.id, null, 1)).toEqual({ ok: true, seq: 1 });
    expect((await storedAnswers([attemptId]))[1]).toMatchObject({ question_id: q2.id, option_id: null, seq: 1 });
  });

  it('refuses a question or option that is not part of the attempt, and writes nothing', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await examFor([student], 3, 1);
    const other = await examFor([student], 3, 1);
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const attemptId = started.attempt.id;
    const [q0, q1] = questionsOf(started.exam) as [Q, Q];
    const foreignQ = questionsOf(other)[0]!;
    expect(await answer(socket, attemptId, foreignQ.id, foreignQ.options[0]!.id, 1)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    // An option of another question of the same exam.
    expect(await answer(socket, attemptId, q0.id, q1.options[0]!.id, 1)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await answer(socket, attemptId, q0.id, 2_000_000_000, 1)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await storedAnswers([attemptId])).toEqual([]);
  });
});

describe('submit', () => {
  it('is idempotent, reaches every tab of the student, and closes the attempt to answers', async () => {
    const [student, bystander] = (await createUsers(t.app, 2)) as [TestUser, TestUser];
    const exam = await examFor([student, bystander]);
    const tab1 = await startAttempt(t.url, student, exam.id);
    const tab2 = await startAttempt(t.url, student, exam.id);
    const other = await startAttempt(t.url, bystander, exam.id);
    const attemptId = tab1.started.attempt.id;
    const q = questionsOf(tab1.started.exam)[0]!;
    expect(await answer(tab2.socket, attemptId, q.id, q.options[0]!.id, 1)).toMatchObject({ ok: true });

    const otherEnded: AttemptEndedEvent[] = [];
    other.socket.on(EXAM_EVENTS.ended, (ev) => otherEnded.push(ev));
    const ended1 = nextEvent(tab1.socket, EXAM_EVENTS.ended);
    const ended2 = nextEvent(tab2.socket, EXAM_EVENTS.ended);
    const first = await ok(tab1.socket, EXAM_EVENTS.submit, { attemptId });
    expect(first).toEqual({
      ok: true,
      attempt: { id: attemptId, status: 'submitted', score: expect.any(Number), maxScore: expect.any(Number), submittedAt: expect.any(String) },
    });
    for (const ev of await Promise.all([ended1, ended2])) {
      expect(ev).toEqual({ attemptId, status: 'submitted', reason: 'submitted' });
    }

    // Again, from either tab: the same result, and no second notification.
    const tab1Ended: unknown[] = [];
    tab1.socket.on(EXAM_EVENTS.ended, (ev) => tab1Ended.push(ev));
    expect(await ok(tab1.socket, EXAM_EVENTS.submit, { attemptId })).toEqual(first);
    expect(await ok(tab2.socket, EXAM_EVENTS.submit, { attemptId })).toEqual(first);
    const fresh = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    expect(await ok(fresh, EXAM_EVENTS.submit, { attemptId })).toEqual(first);

    // Closed to answers from every tab, including one that never started it, and to a new start.
    for (const socket of [tab1.socket, tab2.socket, fresh]) {
      expect(await answer(socket, attemptId, q.id, q.options[1]!.id, 5)).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    }
    for (const socket of [tab2.socket, fresh]) {
      // tab2 started the attempt but did not submit it: what it remembers of the attempt was updated too.
      expect(await request(socket, EXAM_EVENTS.proctor, { attemptId, type: 'focus_lost' })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    }
    expect(await sql(t.databaseUrl, 'select type from proctor_events where attempt_id = $1', [attemptId])).toEqual([]);
    expect(await request(fresh, EXAM_EVENTS.start, { examId: exam.id })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    expect(await storedAnswers([attemptId])).toMatchObject([{ question_id: q.id, option_id: q.options[0]!.id, seq: 1 }]);
    const [row] = await sql(t.databaseUrl, 'select status, submitted_at from attempts where id = $1', [attemptId]);
    expect(row).toEqual({ status: 'submitted', submitted_at: new Date(first.attempt.submittedAt!) });

    expect(tab1Ended).toEqual([]);
    // The other student's attempt was not touched, nor told anything.
    expect(otherEnded).toEqual([]);
    expect(await answer(other.socket, other.started.attempt.id, q.id, q.options[0]!.id, 1)).toMatchObject({ ok: true });
  });
});

describe('scoring', () => {
  it('the submitted score and the result match a recomputation from the key', async () => {
    const students = await createUsers(t.app, 3);
    const exam = await examFor(students, 12, 3);
    const adminView = (await t.app.inject({ url: `/api/exams/${exam.id}`, headers: admin.headers })).json<ExamAdminView>();
    const key = keyOf(adminView);
    const maxScore = [...key.values()].reduce((sum, q) => sum + q.points, 0);
    expect(maxScore).toBe(adminView.maxScore);

    // Student 0: a mix (right, wrong, skipped, right-then-cleared); 1: everything right; 2: nothing.
    const strategies: ((i: number, q: { correct: number; wrong: number[] }) => (number | null)[])[] = [
      (i, q) => [[q.correct], [q.wrong[0]!], [], [q.correct, null], [q.wrong[1]!, q.correct]][i % 5]!,
      (_i, q) => [q.wrong[0]!, q.correct],
      () => [],
    ];
    for (const [n, student] of students.entries()) {
      const { socket, started } = await startAttempt(t.url, student, exam.id);
      const attemptId = started.attempt.id;
      const final = new Map<number, number | null>();
      for (const [i, q] of questionsOf(started.exam).entries()) {
        const choices = strategies[n]!(i, key.get(q.id)!);
        for (const [s, optionId] of choices.entries()) {
          expect(await answer(socket, attemptId, q.id, optionId, s + 1)).toMatchObject({ ok: true });
          final.set(q.id, optionId);
        }
      }
      const score = [...final].reduce((sum, [qid, opt]) => sum + (opt === key.get(qid)!.correct ? key.get(qid)!.points : 0), 0);
      if (n === 1) expect(score).toBe(maxScore);
      if (n === 2) expect(score).toBe(0);

      // Before the end there is no result to see.
      const early = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: student.headers });
      expect(early.statusCode).toBe(409);
      expect(early.body).not.toMatch(/correct/i);

      const submitted = await ok(socket, EXAM_EVENTS.submit, { attemptId });
      expect(submitted.attempt).toMatchObject({ status: 'submitted', score, maxScore });

      const res = await t.app.inject({ url: `/api/attempts/${attemptId}/result`, headers: student.headers });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ attempt: Record<string, unknown>; answers: { questionId: number; optionId: number | null; correct: boolean }[] }>();
      expect(body.attempt).toEqual({
        id: attemptId,
        examId: exam.id,
        status: 'submitted',
        score,
        maxScore,
        startedAt: started.attempt.startedAt,
        deadlineAt: started.attempt.deadlineAt,
        submittedAt: submitted.attempt.submittedAt,
      });
      expect(body.answers).toEqual(
        [...final]
          .map(([questionId, optionId]) => ({ questionId, optionId, correct: optionId === key.get(questionId)!.correct }))
          .sort((a, b) => a.questionId - b.questionId),
      );
      const [row] = await sql(t.databaseUrl, 'select score, max_score from attempts where id = $1', [attemptId]);
      expect(row).toEqual({ score, max_score: maxScore });
    }
  });
});

describe('proctor:event', () => {
  it('is stored with the student as actor, its type and detail, before the ack; an unknown type is refused', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await examFor([student]);
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    const attemptId = started.attempt.id;
    const events = () =>
      sql(t.databaseUrl, 'select exam_id, attempt_id, actor_id, type, detail from proctor_events where attempt_id = $1 order by id', [attemptId]);

    expect(await request(socket, EXAM_EVENTS.proctor, { attemptId, type: 'focus_lost', detail: { durationMs: 1200, reason: 'alt-tab', hidden: true, extra: null } })).toEqual({ ok: true });
    // Durable once acknowledged: visible to another connection right away.
    expect(await events()).toEqual([
      { exam_id: exam.id, attempt_id: attemptId, actor_id: student.id, type: 'focus_lost', detail: { durationMs: 1200, reason: 'alt-tab', hidden: true, extra: null } },
    ]);
    expect(await request(socket, EXAM_EVENTS.proctor, { attemptId, type: 'paste' })).toEqual({ ok: true });
    expect(await request(socket, EXAM_EVENTS.proctor, { attemptId, type: 'fullscreen_exit', detail: {} })).toEqual({ ok: true });
    const rows = await events();
    expect(rows.slice(1)).toEqual([
      { exam_id: exam.id, attempt_id: attemptId, actor_id: student.id, type: 'paste', detail: null },
      { exam_id: exam.id, attempt_id: attemptId, actor_id: student.id, type: 'fullscreen_exit', detail: {} },
    ]);

    for (const type of ['auto_submitted', 'FOCUS_LOST', 'hacked', '', 42]) {
      expect(await requestRaw(socket, EXAM_EVENTS.proctor, { attemptId, type })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    expect(await events()).toHaveLength(3);
  });
});
