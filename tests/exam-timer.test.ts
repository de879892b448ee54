/**
 * The `timer` event: sent after the start ack, as a periodic sync, and as warnings at 5 and 1 minutes
 * left, always with the deadline the database holds and the database's notion of now.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, type TimerEvent } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ env: { TIMER_SYNC_MS: '1000' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

/** Starts an attempt of a fresh exam lasting `seconds` and records every `timer` its socket gets. */
async function startTimed(seconds: number) {
  const [student] = (await createUsers(t.app, 1)) as [TestUser];
  const exam = await createExam(t.app, admin, examBody(2, 1, { durationSeconds: seconds }), { enroll: [student] });
  const socket = await connectSocket(t.url, EXAM_NAMESPACE, student.token);
  const timers: TimerEvent[] = [];
  socket.on(EXAM_EVENTS.timer, (ev) => timers.push(ev));
  const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
  return { socket, timers, attemptId: started.attempt.id, deadlineAt: started.attempt.deadlineAt };
}

const waitFor = async (cond: () => boolean, ms: number) => {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
};

describe('timer', () => {
  it('warns at 1 minute left, syncs periodically, and always carries the stored deadline', async () => {
    // 61 s: the 1-minute warning is due about a second after the start.
    const { timers, attemptId, deadlineAt } = await startTimed(61);
    await waitFor(() => timers.some((x) => x.reason === 'warning') && timers.some((x) => x.reason === 'sync'), 4000);
    expect(timers[0]).toMatchObject({ attemptId, deadlineAt, reason: 'start' });
    const warning = timers.find((x) => x.reason === 'warning');
    expect(warning).toBeDefined();
    expect(warning!.remainingMs).toBeGreaterThan(58_000);
    // Timers may fire up to a millisecond early (libuv's loop clock).
    expect(warning!.remainingMs).toBeLessThanOrEqual(60_001);
    expect(Number.isInteger(warning!.remainingMs)).toBe(true);
    expect(timers.some((x) => x.reason === 'sync')).toBe(true);
    const [row] = await sql<{ deadline_at: Date }>(t.databaseUrl, 'select deadline_at from attempts where id = $1', [attemptId]);
    for (const ev of timers) {
      expect(ev.deadlineAt).toBe(row!.deadline_at.toISOString());
      expect(ev.remainingMs).toBe(Math.max(0, Date.parse(ev.deadlineAt) - Date.parse(ev.serverNow)));
    }
  });

  it('warns at 5 minutes left, and not at 1 minute while more than that remains', async () => {
    const { timers } = await startTimed(301);
    await waitFor(() => timers.some((x) => x.reason === 'warning'), 4000);
    const warnings = timers.filter((x) => x.reason === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.remainingMs).toBeGreaterThan(298_000);
    expect(warnings[0]!.remainingMs).toBeLessThanOrEqual(300_001);
  });

  it('sends no warning for times already passed at the start', async () => {
    // 30 s: both warning points are behind; only start and syncs arrive.
    const { timers } = await startTimed(30);
    await waitFor(() => timers.filter((x) => x.reason === 'sync').length >= 2, 4000);
    expect(timers.filter((x) => x.reason === 'warning')).toEqual([]);
  });
});
