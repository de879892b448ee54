import { beforeAll, describe, expect, it } from 'vitest';
import type { AttemptStartResult, RosterRow, RosterUpdate, TimerEvent } from '../server/protocol.js';
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
    const inv = await connectSocket(b.url, '/invigilator', await loginAs(b.app, 'invigilator@example.com'));
    const watch = await ok<{ roster: RosterRow[] }>(inv, 'exam:watch', { examId });
    expect(watch.roster).toHaveLength(3);
    expect(watch.roster.every((r) => r.status === 'not_started' && !r.connected)).toBe(true);

    const student = await connectSocket(a.url, '/exam', await loginAs(a.app, 'student1@example.com'));
    const connected = nextEvent<RosterUpdate | RosterUpdate[]>(inv, 'roster:update', (u) => asList(u).some((r) => r.connected === true));
    const started = await ok<AttemptStartResult>(student, 'attempt:start', { examId });
    await connected;
    const q = started.exam.sections[0]!.questions[0]!;
    const progress = nextEvent<RosterUpdate | RosterUpdate[]>(inv, 'roster:update', (u) => asList(u).some((r) => r.answered === 1));
    await ok(student, 'answer', { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    await progress;

    const timer = nextEvent<TimerEvent>(student, 'timer', (t) => t.reason === 'change');
    const ext = await ok<{ deadlineAt: string }>(inv, 'attempt:extend', { attemptId: started.attempt.id, seconds: 120 });
    const t = await timer;
    expect(t.deadlineAt).toBe(ext.deadlineAt);
    expect(new Date(ext.deadlineAt).getTime() - new Date(started.attempt.deadlineAt).getTime()).toBe(120_000);

    const message = nextEvent<{ text: string }>(student, 'message');
    await ok(inv, 'exam:announce', { examId, text: 'Ten minutes left' });
    expect((await message).text).toBe('Ten minutes left');

    const gone = nextEvent<RosterUpdate | RosterUpdate[]>(inv, 'roster:update', (u) => asList(u).some((r) => r.connected === false));
    student.disconnect();
    await gone;
  });
});
