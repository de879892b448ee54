/**
 * The bus between nodes checks what it reads from Redis: a message from another node whose topic is
 * unknown or whose payload fails the topic's schema is dropped (and logged) before any handler runs,
 * while a well-formed one is acted on.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { EXAM_EVENTS } from '../server/protocol.js';
import { BUS_EVENT } from '../server/realtime/cluster-bus.js';
import { seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { tokensFor, waitFor } from './helpers/nodes.js';
import { connectSocket, ok } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;
let token: string;

beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  examId = (await seed(a.app, 2)).examId;
  token = (await tokensFor(a, ['student1@example.com'])).get('student1@example.com')!.token;
});

describe('the node bus', () => {
  it('drops malformed messages from another node and acts on well-formed ones', async () => {
    const socket = await connectSocket(b.url, '/exam', token);
    const started = await ok(socket, EXAM_EVENTS.start, { examId });
    const attemptId = started.attempt.id;
    const ended: unknown[] = [];
    socket.on(EXAM_EVENTS.ended, (ev) => ended.push(ev));
    const warn = vi.spyOn(b.app.log, 'warn');

    // Straight onto the wire, as a faulty or hostile peer would: not through a.app.bus.publish (typed).
    const raw = a.app.io.of('/');
    raw.serverSideEmit(BUS_EVENT, 'ended', { attemptId, status: 'bogus', reason: 'x' });
    raw.serverSideEmit(BUS_EVENT, 'ended', { attemptId: String(attemptId), status: 'terminated', reason: 'x' });
    raw.serverSideEmit(BUS_EVENT, 'no-such-topic', { attemptId });
    raw.serverSideEmit(BUS_EVENT, 'deadlines', { changes: [{ attemptId, deadlineAt: 42 }] });
    await waitFor('node B to log the four drops', () => warn.mock.calls.filter(([, msg]) => /cluster bus/.test(String(msg))).length >= 4);
    expect(ended).toEqual([]);

    a.app.bus.publish('ended', { attemptId, status: 'terminated', reason: 'terminated' });
    await waitFor('the well-formed message to reach the student on node B', () => ended.length === 1);
    expect(ended[0]).toEqual({ attemptId, status: 'terminated', reason: 'terminated' });
  });
});
