/**
 * PostgreSQL unreachable for 10 s while students stream answers: a real `npm start` child process
 * reaches the database through a TCP relay, which is cut (every connection reset, new ones refused)
 * and given back. The clients keep a ledger. The oracle: nothing was acknowledged that is not in the
 * database; every refusal meanwhile is the retryable `UNAVAILABLE` with `retryAfterMs` (no other code,
 * no request left without an answer); the process stays up, its pool recovers by itself (answers
 * acked again and /readyz OK within a few seconds of the relay's return), and once the clients send
 * their refused answers again the database holds every answer once, with the highest seq sent.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { startChildNode } from './helpers/child-node.js';
import { createExam, createUsers, questionsOf, sleep, type TestUser } from './helpers/exam.js';
import { AnswerLedger, storedAnswers } from './helpers/ledger.js';
import { connectSocket, ok } from './helpers/sockets.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const STUDENTS = 20;
const QUESTIONS = 12;
const OUTAGE_MS = 10_000;
/** After the relay is back, answers must be acked again within this. */
const RECOVERY_MS = 5_000;
const PREFIX = `dbdown-${process.pid}:`;

let setup: TestApp;

beforeAll(async () => {
  // In-process app for the set-up only (users, exam): it talks to the database directly.
  setup = await createTestApp({ redis: { prefix: PREFIX } });
}, 60_000);

const ready = async (url: string) => (await fetch(`${url}/readyz`)).status;

describe('PostgreSQL unreachable for 10 s while students stream', () => {
  it('acks only what is committed, refuses UNAVAILABLE meanwhile, recovers by itself, and stores every re-sent answer once', async () => {
    const [admin] = (await createUsers(setup.app, 1, 'admin')) as [TestUser];
    const students = await createUsers(setup.app, STUDENTS);
    const exam = await createExam(setup.app, admin, examBody(QUESTIONS, 1, { durationSeconds: 3600 }), { enroll: students });
    const target = new URL(setup.databaseUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(setup.databaseUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const child = await startChildNode({
      databaseUrl: viaProxy.toString(),
      redisPrefix: PREFIX,
      env: { RATE_LIMIT_ANSWERS: '1000/1000', DB_POOL_MIN: '2', DB_POOL_MAX: '5' },
    });
    let exited: string | null = null;
    child.process.once('exit', (code, signal) => (exited = `exit ${code} ${signal}`));

    const ledger = new AnswerLedger();
    const sessions = await Promise.all(
      students.map(async (student) => {
        const socket = await connectSocket(child.url, EXAM_NAMESPACE, student.token);
        const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
        return { socket, started, questions: questionsOf(started.exam), firstAckAfterUp: null as number | null };
      }),
    );

    // Everyone streams, one answer at a time (seq 1, 2, …, question by seq); a refusal is kept in the
    // ledger (the client's outbox) and the client waits the retryAfterMs it was given.
    let upAt: number | null = null;
    let streaming = true;
    const streams = sessions.map(async (session, s) => {
      const { socket, started, questions } = session;
      for (let seq = 1; streaming; seq++) {
        const q = questions[(seq + s) % questions.length]!;
        const answer = { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[seq % q.options.length]!.id, seq };
        const fate = await ledger.send(socket, answer, 20_000);
        if (fate.kind === 'acked' && upAt !== null) session.firstAckAfterUp ??= Date.now() - upAt;
        await sleep(fate.kind === 'refused' ? Math.min(fate.retryAfterMs ?? 1000, 2000) : 20);
      }
    });

    await sleep(1500);
    const ackedBefore = ledger.acked.length;
    expect(ackedBefore).toBeGreaterThan(STUDENTS);
    const sentBefore = ledger.sent.length;
    await proxy.down();
    await sleep(OUTAGE_MS / 2);
    const readyDuring = await ready(child.url);
    await sleep(OUTAGE_MS / 2);
    const refusedDuring = ledger.sent.slice(sentBefore).filter((e) => e.fate?.kind === 'refused').length;
    await proxy.up();
    upAt = Date.now();

    // The pool recovers by itself: every student is acked again, /readyz is OK again.
    const deadline = Date.now() + RECOVERY_MS + 5000;
    while (sessions.some((x) => x.firstAckAfterUp === null) && Date.now() < deadline) await sleep(50);
    let readyAfterMs: number | null = null;
    while (readyAfterMs === null && Date.now() < deadline) {
      if ((await ready(child.url)) === 200) readyAfterMs = Date.now() - upAt;
      else await sleep(100);
    }
    streaming = false;
    await Promise.all(streams);

    expect(readyDuring).toBe(503);
    expect(refusedDuring).toBeGreaterThan(STUDENTS);
    expect(Math.max(...sessions.map((x) => x.firstAckAfterUp ?? Infinity))).toBeLessThan(RECOVERY_MS);
    expect(readyAfterMs).not.toBeNull();
    expect(readyAfterMs!).toBeLessThan(RECOVERY_MS);

    // Every request had an answer, and every refusal was the retryable UNAVAILABLE with retryAfterMs.
    const fates = ledger.sent.map((e) => e.fate!);
    expect(fates.filter((f) => f.kind === 'no-ack')).toEqual([]);
    const refusals = fates.filter((f) => f.kind === 'refused');
    expect(refusals.length).toBeGreaterThan(0);
    for (const f of refusals) expect(f).toEqual({ kind: 'refused', code: 'UNAVAILABLE', retryAfterMs: expect.any(Number) });
    expect(refusals.every((f) => f.kind === 'refused' && f.retryAfterMs! > 0)).toBe(true);

    // The oracle, before anything is sent again: everything acknowledged is in the database.
    const attemptIds = sessions.map((x) => x.started.attempt.id);
    expect(ledger.ackedButNotStored(await storedAnswers(setup.databaseUrl, attemptIds))).toEqual([]);

    // The clients send their outbox again on the same sockets (they stayed connected): all acked.
    expect(sessions.every((x) => x.socket.connected)).toBe(true);
    const resent = new AnswerLedger();
    const outbox = ledger.unacked;
    await Promise.all(
      sessions.map(async ({ socket, started }) => {
        for (const answer of outbox.filter((a) => a.attemptId === started.attempt.id)) await resent.send(socket, answer);
      }),
    );
    expect(resent.sent.filter((e) => e.fate?.kind !== 'acked')).toEqual([]);
    expect(ledger.differencesFrom(await storedAnswers(setup.databaseUrl, attemptIds))).toEqual([]);

    // The process stayed up, and nothing escaped its handlers.
    expect(exited).toBeNull();
    expect(child.log()).not.toMatch(/uncaught|unhandled/i);
    expect(child.log()).not.toMatch(/"code":"INTERNAL"/);
    console.log(
      `db-down: ${ledger.sent.length} answers sent, ${ledger.acked.length} acked, ${refusals.length} refused UNAVAILABLE; ` +
        `acked again ${Math.max(...sessions.map((x) => x.firstAckAfterUp!))} ms after the relay's return, /readyz OK after ${readyAfterMs} ms`,
    );
  }, 60_000);
});
