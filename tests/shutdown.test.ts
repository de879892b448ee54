/**
 * Shutdown drains in the right order with bounded waits, even with a peer that never answers the
 * WebSocket close handshake: buffered answers are written (and acked) first, then sockets are closed,
 * and the connections that do not close in time are cut, so `app.close()` ends well inside the
 * process's drain limit.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS } from '../server/protocol.js';
import { SHUTDOWN_CLOSE_GRACE_MS } from '../server/plugins/sockets.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { countRows } from './helpers/pg.js';

let t: TestApp;

beforeAll(async () => {
  // Answers wait up to a second in the buffer: at close time they are still there.
  t = await createTestApp({ env: { ANSWER_FLUSH_MS: '1000' } });
  await t.listen();
});

/** A WebSocket client that completes the upgrade and then never reads or answers anything again. */
async function silentPeer(url: string): Promise<net.Socket> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    [
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n'),
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.pause();
  return socket;
}

describe('shutdown with a silent peer', () => {
  it('writes and acks the buffered answers, then cuts the peer that does not close, well inside the drain limit', async () => {
    const [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
    const [learner] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(3, 1), { enroll: [learner] });
    const { socket, started } = await startAttempt(t.url, learner, exam.id);
    const peer = await silentPeer(t.url);

    const acks = questionsOf(started.exam).map((q, i) =>
      socket.timeout(10_000).emitWithAck(EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: i + 1 }),
    );
    // Let the answers reach the server's buffer (they are not written for another second).
    await new Promise((r) => setTimeout(r, 100));
    expect(await countRows(t.databaseUrl, 'attempt_answers')).toBe(0);

    const began = Date.now();
    await t.app.close();
    const took = Date.now() - began;

    expect(await Promise.all(acks)).toEqual([1, 2, 3].map((seq) => ({ ok: true, seq })));
    expect(await countRows(t.databaseUrl, 'attempt_answers')).toBe(3);
    // The close grace, plus a little: not the 30 s a WebSocket close handshake may wait for.
    expect(took).toBeLessThan(SHUTDOWN_CLOSE_GRACE_MS + 3000);
    expect(peer.destroyed || peer.readableEnded || (await new Promise((r) => peer.once('close', () => r(true))))).toBeTruthy();
  }, 40_000);
});
