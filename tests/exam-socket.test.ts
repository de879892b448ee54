import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, loginAs, seed, type TestApp } from './helpers/app.js';
import { connectSocket, nextEvent, ok, request } from './helpers/sockets.js';
import type { AttemptStartResult, SubmitResult, TimerEvent } from '../server/protocol.js';

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
    const socket = await connectSocket(t.url, '/exam', token);
    const timer = nextEvent<TimerEvent>(socket, 'timer');
    const started = await ok<AttemptStartResult>(socket, 'attempt:start', { examId });
    expect(started.attempt.status).toBe('in_progress');
    expect((await timer).reason).toBe('start');
    const q = started.exam.sections[0]!.questions[0]!;
    const ack = await ok<{ seq: number }>(socket, 'answer', { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[1]!.id, seq: 1 });
    expect(ack.seq).toBe(1);
    const socket2 = await connectSocket(t.url, '/exam', token);
    const resumed = await ok<AttemptStartResult>(socket2, 'attempt:start', { examId });
    expect(resumed.attempt.id).toBe(started.attempt.id);
    expect(resumed.answers).toEqual([{ questionId: q.id, optionId: q.options[1]!.id, seq: 1 }]);
    const ended = nextEvent(socket2, 'attempt:ended');
    const submitted = await ok<SubmitResult>(socket, 'submit', { attemptId: started.attempt.id });
    expect(submitted.attempt.status).toBe('submitted');
    expect(await ended).toMatchObject({ attemptId: started.attempt.id, status: 'submitted' });
    const again = await ok<SubmitResult>(socket, 'submit', { attemptId: started.attempt.id });
    expect(again).toEqual(submitted);
    const late = await request(socket, 'answer', { attemptId: started.attempt.id, questionId: q.id, optionId: null, seq: 2 });
    expect(late).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    const result = await t.app.inject({ url: `/api/attempts/${started.attempt.id}/result`, headers: bearer(token) });
    expect(result.statusCode).toBe(200);
  });
});
