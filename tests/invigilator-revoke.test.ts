/**
 * Removing an invigilator from an exam stops their console and feed at once, on every node; the
 * invigilators still assigned (and admins) keep receiving.
 */
import { WebSocket } from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE } from '../server/protocol.js';
import { bearer, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { collect, insertUser, sleep, tokensFor, waitFor } from './helpers/nodes.js';
import { connectSocket, ok, request } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;

beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  examId = (await seed(a.app, 2)).examId;
  await insertUser(a.databaseUrl, { email: 'second@example.com', name: 'Second Invigilator', role: 'invigilator', password: 'x' });
});

describe('an invigilator removed from an exam', () => {
  it('stops receiving its events on every node, console and feed, while the one kept goes on', async () => {
    const admin = bearer(await loginAs(a.app, 'admin@example.com'));
    const assign = (emails: string[]) =>
      a.app.inject({ method: 'PUT', url: `/api/exams/${examId}/invigilators`, headers: admin, payload: { emails } });
    expect((await assign(['invigilator@example.com', 'second@example.com'])).statusCode).toBe(200);

    const tokens = await tokensFor(b, ['invigilator@example.com', 'second@example.com', 'student1@example.com']);
    const kept = await connectSocket(b.url, INVIGILATOR_NAMESPACE, tokens.get('invigilator@example.com')!.token);
    const removed = await connectSocket(a.url, INVIGILATOR_NAMESPACE, tokens.get('second@example.com')!.token);
    await ok(kept, INVIGILATOR_EVENTS.watch, { examId });
    await ok(removed, INVIGILATOR_EVENTS.watch, { examId });
    const keptEvents = collect(kept, INVIGILATOR_EVENTS.proctorEvent);
    const removedEvents = collect(removed, INVIGILATOR_EVENTS.proctorEvent);

    const feed = new WebSocket(`${b.url.replace('http', 'ws')}/api/exams/${examId}/feed`, {
      headers: { authorization: `Bearer ${tokens.get('second@example.com')!.token}` },
    });
    const closed = new Promise<number>((resolve) => feed.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      feed.once('open', resolve);
      feed.once('error', reject);
    });

    const student = await connectSocket(a.url, EXAM_NAMESPACE, tokens.get('student1@example.com')!.token);
    const started = await ok(student, EXAM_EVENTS.start, { examId });
    await ok(student, EXAM_EVENTS.proctor, { attemptId: started.attempt.id, type: 'focus_lost' });
    await waitFor('both consoles see the first event', () => keptEvents.length === 1 && removedEvents.length === 1);

    expect((await assign(['invigilator@example.com'])).statusCode).toBe(200);
    expect(await closed).toBe(1008);
    await ok(student, EXAM_EVENTS.proctor, { attemptId: started.attempt.id, type: 'paste' });
    await waitFor('the kept console sees the second event', () => keptEvents.length === 2);
    await sleep(300);
    expect(removedEvents).toHaveLength(1);
    // And any action of theirs is refused: authorization is checked on every event.
    const refused = await request(removed, INVIGILATOR_EVENTS.announce, { examId, text: 'hello' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });
});
