/**
 * A Redis that hangs (it keeps the connections open and answers nothing: paused, or cut off without a
 * reset) is met like one that is down: every command gives up after REDIS_COMMAND_TIMEOUT_MS, so logins
 * still log in (throttle counts on the node), a first `attempt:start` reads its questions from the
 * database, answers are acked once written, and /readyz says Redis is down. Once Redis answers again,
 * /readyz is ready again.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, loginAs, seed, type TestApp } from './helpers/app.js';
import { TEST_REDIS_URL } from './helpers/db.js';
import { eventually, questionsOf } from './helpers/exam.js';
import { countRows } from './helpers/pg.js';
import { connectSocket, ok } from './helpers/sockets.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

let t: TestApp;
let relay: TcpProxy;
let examId: number;

beforeAll(async () => {
  const redis = new URL(TEST_REDIS_URL);
  relay = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  t = await createTestApp({
    redis: true,
    env: { REDIS_URL: `redis://127.0.0.1:${relay.port}`, REDIS_COMMAND_TIMEOUT_MS: '300', LOG_LEVEL: 'silent' },
  });
  await t.listen();
  examId = (await seed(t.app, 2)).examId;
  expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
});

describe('with Redis hanging', () => {
  it('logins, a first start (questions from the database) and durable answers go on; /readyz says Redis is down', async () => {
    relay.stall();
    try {
      // Each of these waited for a reply that never came, before commands had a deadline.
      const token = await loginAs(t.app, 'student1@example.com');
      const ready = await t.app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks).toMatchObject({ database: 'ok', redis: 'down' });

      const socket = await connectSocket(t.url, EXAM_NAMESPACE, token);
      // Never loaded on this node: the cache asks Redis first, then the database.
      const started = await ok(socket, EXAM_EVENTS.start, { examId });
      const questions = questionsOf(started.exam);
      expect(questions.length).toBeGreaterThan(0);
      for (const [i, q] of questions.entries()) {
        await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: i + 1 });
      }
      expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [started.attempt.id])).toBe(questions.length);
      socket.disconnect();
    } finally {
      relay.resume();
    }
    await eventually(async () => (await t.app.inject({ url: '/readyz' })).statusCode === 200);
  }, 60_000);
});
