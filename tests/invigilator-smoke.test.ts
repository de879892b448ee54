import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type RosterUpdate } from '../server/protocol.js';
import { loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { connectSocket, nextEvent, ok } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;

beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  examId = (await seed(a.app, 3)).examId;
});

const asList = (u: RosterUpdate | RosterUpdate[]) => (Array.isArray(u) ? u : [u]);

describe('invigilator across nodes', () => {
  it('sees a student on another node answer, and extends their time', async () => {
    const inv = await connectSocket(b.url, INVIGILATOR_NAMESPACE, await loginAs(b.app, 'invigilator@example.com'));
    const watch = await ok(inv, INVIGILATOR_EVENTS.watch, { examId });
    expect(watch.roster).toHaveLength(3);
    expect(watch.roster.every((r) => r.status === 'not_started' && !r.connected)).toBe(true);

    const student = await connectSocket(a.url, EXAM_NAMESPACE, await loginAs(a.app, 'student1@example.com'));
    const connected = nextEvent(inv, INVIGILATOR_EVENTS.rosterUpdate, (u) => asList(u).some((r) => r.connected === true));
    const started = await ok(student, EXAM_EVENTS.start, { examId });
    await connected;
    const q = started.exam.sections[0]!.questions[0]!;
    const progress = nextEvent(inv, INVIGILATOR_EVENTS.rosterUpdate, (u) => asList(u).some((r) => r.answered === 1));
    await ok(student, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    await progress;

    const timer = nextEvent(student, EXAM_EVENTS.timer, (t) => t.reason === 'change');
    const ext = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId: started.attempt.id, seconds: 120 });
    const t = await timer;
    expect(t.deadlineAt).toBe(ext.deadlineAt);
    expect(new Date(ext.deadlineAt).getTime() - new Date(started.attempt.deadlineAt).getTime()).toBe(120_000);

    const message = nextEvent(student, EXAM_EVENTS.message);
    await ok(inv, INVIGILATOR_EVENTS.announce, { examId, text: 'Ten minutes left' });
    expect((await message).text).toBe('Ten minutes left');

    const gone = nextEvent(inv, INVIGILATOR_EVENTS.rosterUpdate, (u) => asList(u).some((r) => r.connected === false));
    student.disconnect();
    await gone;
  });
});
