/**
 * A node dies abruptly (no graceful shutdown: its Redis clients are cut, its TCP connections destroyed).
 * The other nodes notice through presence heartbeats and show its students disconnected; the students
 * reconnect to a surviving node and resume the same attempt with every acknowledged answer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type AttemptStartResult } from '../server/protocol.js';
import { loginAs, seed, type TestApp } from './helpers/app.js';
import { collectRoster, crashNode, startTrackedCluster, tokensFor, waitFor, withTimeout } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, nextEvent, ok, type StudentSocket } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;
const tokens = new Map<string, { id: number; token: string }>();
const email = (n: number) => `student${n}@example.com`;

beforeAll(async () => {
  [a, b] = (await startTrackedCluster(2, { env: { PRESENCE_HEARTBEAT_MS: '300', PRESENCE_DEAD_AFTER_MS: '1200' } })) as [TestApp, TestApp];
  examId = (await seed(a.app, 3)).examId;
  for (const [k, v] of await tokensFor(a, [email(1), email(2), email(3)])) tokens.set(k, v);
});

describe('a node crashes', () => {
  it('its students turn disconnected on the other node, then resume the same attempt there with every acked answer', async () => {
    const inv = await connectSocket(b.url, INVIGILATOR_NAMESPACE, await loginAs(b.app, 'invigilator@example.com'));
    await ok(inv, INVIGILATOR_EVENTS.watch, { examId });
    const rows = collectRoster(inv);

    // Students 1 and 2 on A (to crash), student 3 on B (stays).
    const onA: { n: number; socket: StudentSocket; started: AttemptStartResult; acked: { questionId: number; optionId: number; seq: number }[] }[] = [];
    for (const n of [1, 2]) {
      const socket = await connectSocket(a.url, EXAM_NAMESPACE, tokens.get(email(n))!.token);
      const started = await ok(socket, EXAM_EVENTS.start, { examId });
      const acked = [];
      const qs = started.exam.sections.flatMap((s) => s.questions);
      for (let i = 0; i < 3 + n; i++) {
        const answer = { questionId: qs[i]!.id, optionId: qs[i]!.options[n % 4]!.id, seq: i + 1 };
        await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, ...answer });
        acked.push(answer);
      }
      onA.push({ n, socket, started, acked });
    }
    const s3 = await connectSocket(b.url, EXAM_NAMESPACE, tokens.get(email(3))!.token);
    await ok(s3, EXAM_EVENTS.start, { examId });
    const ids = onA.map((s) => tokens.get(email(s.n))!.id);
    const id3 = tokens.get(email(3))!.id;
    await waitFor('all three shown connected', () =>
      [...ids, id3].every((id) => rows.some((r) => r.payload.student.id === id && r.payload.connected === true)),
    );

    const reasons = onA.map((s) => nextEvent(s.socket, 'disconnect'));
    const crashedAt = Date.now();
    const { connectionsCut } = crashNode(a);
    expect(connectionsCut).toBeGreaterThanOrEqual(2);
    // A transport failure, not a clean "the server disconnected you".
    for (const reason of await Promise.all(reasons)) expect(['transport close', 'transport error']).toContain(reason);

    // B notices A's silence (1.2 s + a beat) and shows A's students disconnected; student 3 stays connected.
    await waitFor(
      "A's students shown disconnected on B",
      () => ids.every((id) => rows.some((r) => r.at >= crashedAt && r.payload.student.id === id && r.payload.connected === false)),
      6000,
    );
    expect(Date.now() - crashedAt).toBeLessThan(6000);
    expect(rows.some((r) => r.payload.student.id === id3 && r.payload.connected === false)).toBe(false);
    const snapshot = await ok(inv, INVIGILATOR_EVENTS.watch, { examId });
    const connected = new Map(snapshot.roster.map((r) => [r.student.id, r.connected]));
    expect(ids.map((id) => connected.get(id))).toEqual([false, false]);
    expect(connected.get(id3)).toBe(true);

    // They come back on B: same attempt, every acknowledged answer.
    for (const s of onA) {
      const socket = await connectSocket(b.url, EXAM_NAMESPACE, tokens.get(email(s.n))!.token);
      const resumed = await ok(socket, EXAM_EVENTS.start, { examId });
      expect(resumed.attempt.id).toBe(s.started.attempt.id);
      expect(resumed.attempt.deadlineAt).toBe(s.started.attempt.deadlineAt);
      expect(resumed.answers).toEqual(expect.arrayContaining(s.acked));
      expect(resumed.answers).toHaveLength(s.acked.length);
      // And go on answering there.
      const q = resumed.exam.sections[2]!.questions[0]!;
      await ok(socket, EXAM_EVENTS.answer, { attemptId: resumed.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 100 });
    }
    await waitFor('shown connected again', () =>
      ids.every((id) => rows.some((r) => r.at > crashedAt && r.payload.student.id === id && r.payload.connected === true)),
    );
    const attempts = await sql<{ student_id: number; n: string }>(
      b.databaseUrl,
      `select a.student_id, count(*)::text as n from attempts a join attempt_answers aa on aa.attempt_id = a.id
       where a.exam_id = $1 group by a.student_id order by a.student_id`,
      [examId],
    );
    expect(attempts).toEqual(onA.map((s, i) => ({ student_id: ids[i], n: String(s.acked.length + 1) })));
  });

  it('the crashed node still closes, promptly and without error', async () => {
    await withTimeout(a.app.close(), 10_000, "the crashed node's close");
    // The survivor is unaffected.
    const res = await b.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
  });
});
