/**
 * A node whose clock is 10 minutes ahead (a real `npm start` child process with a preload that shifts
 * `Date`: tests/helpers/clock-ahead.mjs) on the same database as a node with the right time. The
 * database is the authority over time: the deadline the skewed node gives is the database's now plus
 * the duration; the `serverNow` it reports (start ack, `timer` events, `/api/site`) is the database's
 * now, so a client computes the remaining time the database would; it takes answers while the
 * database says time remains, even on its first request before it measured anything; and the attempt
 * is ended at the database's deadline, not 10 minutes early.
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { EXAM_EVENTS, EXAM_NAMESPACE, type TimerEvent } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import type { ServerNode } from '../loadtest/nodes.js';
import { startChildNode } from './helpers/child-node.js';
import { TEST_REDIS_URL } from './helpers/db.js';
import { createExam, createUsers, questionsOf, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { collect, waitFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, nextEvent, ok, request } from './helpers/sockets.js';

/** How far ahead the skewed node's clock is: far beyond any exam here (tokens live 8 h: still valid). */
const OFFSET_MS = 10 * 60_000;
const DURATION_S = 20;
const PREFIX = `clock-${process.pid}:`;
const PRELOAD = pathToFileURL(path.join(import.meta.dirname, 'helpers', 'clock-ahead.mjs')).href;

let survivor: TestApp;
let admin: TestUser;

beforeAll(async () => {
  // The node with the right clock sweeps rarely: the deadline sweep seen here is the skewed node's.
  survivor = await createTestApp({ redis: { prefix: PREFIX }, env: { SWEEP_INTERVAL_MS: '60000' } });
  await survivor.listen();
  [admin] = (await createUsers(survivor.app, 1, 'admin')) as [TestUser];
}, 60_000);

const skewedNode = (env: Record<string, string> = {}) =>
  startChildNode({
    databaseUrl: survivor.databaseUrl,
    redisPrefix: PREFIX,
    nodeArgs: ['--import', PRELOAD],
    env: { FAKE_CLOCK_OFFSET_MS: String(OFFSET_MS), ...env },
  });

/** The database's view of an attempt, and the database's now (test process and database share a clock here). */
async function dbAttempt(attemptId: number) {
  const [row] = await sql<{ status: string; deadline_at: Date; submitted_at: Date | null; remaining_ms: number; db_now: Date }>(
    survivor.databaseUrl,
    `select status, deadline_at, submitted_at, extract(epoch from (deadline_at - now())) * 1000 as remaining_ms, now() as db_now
       from attempts where id = $1`,
    [attemptId],
  );
  return { ...row!, remaining_ms: Number(row!.remaining_ms) };
}

const dbNowMs = async () => (await sql<{ now: Date }>(survivor.databaseUrl, 'select now() as now'))[0]!.now.getTime();

/**
 * One student sits a `durationSeconds` exam on `node` (started there): the deadline and every time
 * it reports follow the database, answers are taken until the database's deadline, and the attempt
 * is ended by the sweep at that deadline, not before. `afterStart` runs once the attempt started.
 */
async function sitExam(node: ServerNode, durationSeconds: number, afterStart: () => Promise<void> = async () => undefined): Promise<void> {
  const [student] = await createUsers(survivor.app, 1);
  const exam = await createExam(survivor.app, admin, examBody(4, 1, { durationSeconds, gracePeriodSeconds: 0 }), { enroll: [student!] });

  const socket = await connectSocket(node.url, EXAM_NAMESPACE, student!.token);
  const timers = collect(socket, EXAM_EVENTS.timer);
  const endedAt = nextEvent(socket, EXAM_EVENTS.ended, undefined, (durationSeconds + 15) * 1000).then((ev) => ({ ev, at: Date.now() }));
  const startedTimer = nextEvent(socket, EXAM_EVENTS.timer, (t: TimerEvent) => t.reason === 'start');
  const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
  const attemptId = started.attempt.id;
  const db = await dbAttempt(attemptId);

  // The deadline is the database's now + the duration, and it is the one stored.
  expect(Date.parse(started.attempt.deadlineAt)).toBe(db.deadline_at.getTime());
  expect(Math.abs(Date.parse(started.attempt.deadlineAt) - (db.db_now.getTime() + durationSeconds * 1000))).toBeLessThan(1000);
  // deadlineAt − serverNow (what the page counts down from) is the database's deadline − now().
  const shown = Date.parse(started.attempt.deadlineAt) - Date.parse(started.attempt.serverNow);
  expect(Math.abs(shown - db.remaining_ms)).toBeLessThan(1000);
  const first = await startedTimer;
  expect(Math.abs(first.remainingMs - db.remaining_ms)).toBeLessThan(1000);
  expect(Math.abs(Date.parse(first.deadlineAt) - Date.parse(first.serverNow) - db.remaining_ms)).toBeLessThan(1000);
  await afterStart();

  // Answers are accepted while the database says time remains, up to its last seconds.
  const questions = questionsOf(started.exam);
  let seq = 0;
  const answer = async () => {
    const q = questions[seq % questions.length]!;
    seq++;
    return request(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq });
  };
  const deadlineMs = db.deadline_at.getTime();
  for (const untilDeadline of [durationSeconds * 1000 - 2000, durationSeconds * 500, 3000, 1500]) {
    await sleep(Math.max(0, deadlineMs - untilDeadline - Date.now()));
    const remaining = (await dbAttempt(attemptId)).remaining_ms;
    expect(remaining).toBeGreaterThan(500);
    expect(await answer(), `${remaining} ms left by the database`).toEqual({ ok: true, seq });
  }

  // Not ended early: still in progress a moment before the database's deadline.
  await sleep(Math.max(0, deadlineMs - 700 - Date.now()));
  expect((await dbAttempt(attemptId)).status).toBe('in_progress');
  // The periodic timer syncs kept coming (TIMER_SYNC_MS=1000), each with the database's remaining time.
  const syncs = timers.filter((t) => t.payload.reason === 'sync');
  expect(syncs.length).toBeGreaterThanOrEqual(durationSeconds / 2);
  for (const { payload } of syncs) {
    const remainingByDb = deadlineMs - Date.parse(payload.serverNow);
    expect(Math.abs(Date.parse(payload.deadlineAt) - Date.parse(payload.serverNow) - remainingByDb)).toBeLessThan(1000);
    expect(Math.abs(payload.remainingMs - remainingByDb)).toBeLessThan(1000);
  }
  // Each timer's serverNow is the database's time when it arrived (the test shares the database's clock).
  for (const { at, payload } of timers) expect(Math.abs(Date.parse(payload.serverNow) - at), payload.reason).toBeLessThan(1000);

  // Ended by the sweep at the database's deadline (expired, submitted_at = deadline_at), soon after it.
  const { ev, at } = await endedAt;
  expect(ev).toMatchObject({ attemptId, status: 'expired' });
  expect(at).toBeGreaterThanOrEqual(deadlineMs);
  expect(at - deadlineMs).toBeLessThan(3000);
  const ended = await dbAttempt(attemptId);
  expect(ended.status).toBe('expired');
  expect(ended.submitted_at?.getTime()).toBe(deadlineMs);
  expect(await answer()).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(ATTEMPT_CLOSED|DEADLINE_PASSED)$/) } });
}

describe('a node whose clock is 10 minutes ahead', () => {
  it('reports the database time and takes an answer on its very first request (before any attempt:start on it)', async () => {
    const [student] = await createUsers(survivor.app, 1);
    const exam = await createExam(survivor.app, admin, examBody(3, 1, { durationSeconds: 120, gracePeriodSeconds: 0 }), { enroll: [student!] });
    // The attempt is started on the right node; the student's next connection lands on the skewed one,
    // which has not read the database's clock for any request yet.
    const { started } = await startAttempt(survivor.url, student!, exam.id);
    const node = await skewedNode();
    expect(node.log()).toContain(`clock-ahead: clock set ahead by ${OFFSET_MS} ms`);

    const site = (await (await fetch(`${node.url}/api/site`)).json()) as { serverNow: string };
    expect(Math.abs(Date.parse(site.serverNow) - (await dbNowMs()))).toBeLessThan(1000);
    const mine = (await (await fetch(`${node.url}/api/attempts`, { headers: student!.headers })).json()) as { serverNow: string };
    expect(Math.abs(Date.parse(mine.serverNow) - (await dbNowMs()))).toBeLessThan(1000);

    const socket = await connectSocket(node.url, EXAM_NAMESPACE, student!.token);
    const q = questionsOf(started.exam)[0]!;
    const res = await request(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    expect(res).toEqual({ ok: true, seq: 1 });
    expect((await dbAttempt(started.attempt.id)).status).toBe('in_progress');
  });

  it('gives the database deadline and time, takes answers until it, and ends the attempt at it, not before', async () => {
    const node = await skewedNode({ SWEEP_INTERVAL_MS: '200', TIMER_SYNC_MS: '1000' });
    expect(node.log()).toContain(`clock-ahead: clock set ahead by ${OFFSET_MS} ms`);
    await sitExam(node, DURATION_S);
  }, 60_000);

  it('the same when the clock is set ahead while the node runs, after it measured the database clock', async () => {
    const node = await skewedNode({ FAKE_CLOCK_OFFSET_MS: '0', FAKE_CLOCK_STEP_MS: String(OFFSET_MS), SWEEP_INTERVAL_MS: '200', TIMER_SYNC_MS: '1000' });
    await sitExam(node, 12, async () => {
      node.process.kill('SIGUSR2');
      await waitFor('the clock step', () => node.log().includes(`clock-ahead: clock set ahead by ${OFFSET_MS} ms`));
    });
  }, 60_000);

  it("and the node with the right clock take each other for alive, and a dead node is found dead: presence follows the database's time", async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const nodes = () => redis.zrange(`${PREFIX}presence:nodes`, '0', '-1');
    try {
      const before = new Set(await nodes());
      const node = await skewedNode();
      const id = await waitFor('the skewed node to beat', async () => (await nodes()).find((n) => !before.has(n)));
      // Its heartbeats carry the database's time, not its own 10 minutes ahead (with those, the right
      // node took it for alive for 10 minutes after it died).
      const score = Number(await redis.zscore(`${PREFIX}presence:nodes`, id));
      expect(Math.abs(score - (await dbNowMs()))).toBeLessThan(3000);
      // And it never takes the right node for dead: reaping (PRESENCE_DEAD_AFTER_MS, 6 s, after its first
      // beat, then every beat) with its own clock, it found every other heartbeat 10 minutes old and
      // removed the right node and its students. Watched for 9 s: the right node stays listed.
      const right = survivor.app.presence.nodeId;
      for (const until = Date.now() + 9000; Date.now() < until; await sleep(100)) {
        expect(await redis.zscore(`${PREFIX}presence:nodes`, right), 'the right node in presence:nodes').not.toBeNull();
      }
      expect(node.log()).not.toContain('presence: a node stopped answering');
      // Killed, it is found dead by a live node (whichever sees it first).
      node.process.kill('SIGKILL');
      await waitFor('the skewed node to be found dead', async () => !(await nodes()).includes(id), 15_000);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
