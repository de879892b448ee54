import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, loginAs, seed, type TestApp } from './helpers/app.js';
import { connectSocket, nextEvent, ok, request } from './helpers/sockets.js';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';

let t: TestApp;
let examId: number;

beforeAll(async () => {
  t = await createTestApp({ redis: true });
  const s = await seed(t.app, 3);
  examId = s.examId;
  await t.listen();
});

describe('/exam', () => {
  it('starts, answers durably, resumes with the answers, submits', async () => {
    const token = await loginAs(t.app, 'student1@example.com');
    const socket = await connectSocket(t.url, EXAM_NAMESPACE, token);
    const timer = nextEvent(socket, EXAM_EVENTS.timer);
    const started = await ok(socket, EXAM_EVENTS.start, { examId });
    expect(started.attempt.status).toBe('in_progress');
    expect((await timer).reason).toBe('start');
    const q = started.exam.sections[0]!.questions[0]!;
    const ack = await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[1]!.id, seq: 1 });
    expect(ack.seq).toBe(1);
    const socket2 = await connectSocket(t.url, EXAM_NAMESPACE, token);
    const resumed = await ok(socket2, EXAM_EVENTS.start, { examId });
    expect(resumed.attempt.id).toBe(started.attempt.id);
    expect(resumed.answers).toEqual([{ questionId: q.id, optionId: q.options[1]!.id, seq: 1 }]);
    const ended = nextEvent(socket2, EXAM_EVENTS.ended);
    const submitted = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
    expect(submitted.attempt.status).toBe('submitted');
    expect(await ended).toMatchObject({ attemptId: started.attempt.id, status: 'submitted' });
    const again = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
    expect(again).toEqual(submitted);
    const late = await request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: null, seq: 2 });
    expect(late).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    const result = await t.app.inject({ url: `/api/attempts/${started.attempt.id}/result`, headers: bearer(token) });
    expect(result.statusCode).toBe(200);
  });
});
