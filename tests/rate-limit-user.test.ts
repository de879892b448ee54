/**
 * Limits hold per user, not per socket: more sockets of one token buy no more events, a user holds
 * at most SOCKETS_PER_USER sockets on a node, and one attempt cannot fill the node's answer buffer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Socket as NetSocket } from 'node:net';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { MAX_PENDING_PER_ATTEMPT } from '../server/exam/answer-writer.js';
import { AppError } from '../server/errors.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, type TestUser } from './helpers/exam.js';
import { connectSocket, ok, request } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ env: { RATE_LIMIT_ANSWERS: '1/3', SOCKETS_PER_USER: '3', ANSWER_FLUSH_MS: '1000' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

describe('limits per user', () => {
  it('caps the sockets of one user on a node; a closed one frees its place', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const sockets = await Promise.all([1, 2, 3].map(() => connectSocket(t.url, EXAM_NAMESPACE, student.token)));
    await expect(connectSocket(t.url, EXAM_NAMESPACE, student.token)).rejects.toThrow('RATE_LIMITED');
    // Another user is not affected.
    const [other] = (await createUsers(t.app, 1)) as [TestUser];
    await connectSocket(t.url, EXAM_NAMESPACE, other.token);
    sockets[0]!.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    await connectSocket(t.url, EXAM_NAMESPACE, student.token);
  });

  it('counts CONNECT packets one by one even when many arrive over one connection in one read', async () => {
    // One engine.io connection (raw WebSocket), five socket.io CONNECTs to /exam for the same user,
    // written as one TCP segment: the server decodes them together, before any has finished connecting.
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const frames: string[] = [];
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text === '2') ws.send('3'); // engine.io ping
      else frames.push(text);
    });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const tcp = (ws as unknown as { _socket: NetSocket })._socket;
    tcp.cork();
    for (let i = 0; i < 5; i++) ws.send(`40${EXAM_NAMESPACE},${JSON.stringify({ token: student.token })}`);
    tcp.uncork();
    const replies = () => frames.filter((f) => f.startsWith(`40${EXAM_NAMESPACE},`) || f.startsWith(`44${EXAM_NAMESPACE},`));
    for (let i = 0; i < 100 && replies().length < 5; i++) await new Promise((r) => setTimeout(r, 20));
    const connected = replies().filter((f) => f.startsWith('40'));
    const refused = replies().filter((f) => f.startsWith('44'));
    expect(connected).toHaveLength(3);
    expect(refused).toHaveLength(2);
    for (const f of refused) expect(JSON.parse(f.slice(f.indexOf(',') + 1))).toMatchObject({ message: 'RATE_LIMITED' });
    // Closing the connection gives the three places back.
    ws.close();
    await new Promise((r) => setTimeout(r, 100));
    await connectSocket(t.url, EXAM_NAMESPACE, student.token);
  });

  it('shares one burst between all of a user’s sockets', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(4, 1), { enroll: [student] });
    const a = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const b = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
    const started = await ok(a, EXAM_EVENTS.start, { examId: exam.id });
    const [q] = questionsOf(started.exam);
    const send = (socket: typeof a, seq: number) =>
      request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q!.id, optionId: q!.options[0]!.id, seq });
    const acks = await Promise.all([send(a, 1), send(b, 2), send(a, 3), send(b, 4)]);
    expect(acks.filter((x) => x.ok)).toHaveLength(3);
    expect(acks.filter((x) => !x.ok && x.error.code === 'RATE_LIMITED')).toHaveLength(1);
  });

  it(`gives one attempt at most ${MAX_PENDING_PER_ATTEMPT} answers in the node's buffer; other attempts are not held up`, async () => {
    const flood = Array.from({ length: MAX_PENDING_PER_ATTEMPT }, (_, i) =>
      t.app.answers.enqueue({ attemptId: 999_001, questionId: i + 1, optionId: null, seq: 1, answeredAt: new Date() }),
    );
    const over = await t.app.answers.enqueue({ attemptId: 999_001, questionId: 9999, optionId: null, seq: 1, answeredAt: new Date() }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(over).toBeInstanceOf(AppError);
    expect((over as AppError).code).toBe('UNAVAILABLE');
    const neighbour = t.app.answers.enqueue({ attemptId: 999_002, questionId: 1, optionId: null, seq: 1, answeredAt: new Date() });
    // No such attempts: the writes find nothing to store, but every one was taken and settles.
    expect(await neighbour).toBe('missing');
    expect(new Set(await Promise.all(flood))).toEqual(new Set(['missing']));
  });
});
