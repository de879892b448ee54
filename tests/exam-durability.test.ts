/**
 * An acknowledged answer is never lost: shutdown drains the writer before the database closes, and a
 * writer that cannot keep up refuses new answers with a retryable UNAVAILABLE instead of buffering
 * without bound.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, type Ack } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { countRows, sql } from './helpers/pg.js';
import { request } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ redis: true, env: { SWEEP_INTERVAL_MS: '60000' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

/** A node of its own on the file's database, to be shut down by the test. */
async function node(env: Record<string, string>): Promise<TestApp> {
  const n = await createTestApp({ databaseUrl: t.databaseUrl, redis: true, env: { SWEEP_INTERVAL_MS: '60000', ...env } });
  await n.listen();
  return n;
}

const stored = (attemptIds: number[]) =>
  sql<{ attempt_id: number; question_id: number; option_id: number | null; seq: number }>(
    t.databaseUrl,
    'select attempt_id, question_id, option_id, seq from attempt_answers where attempt_id = any($1::int[])',
    [attemptIds],
  );

describe('shutdown', () => {
  it('every answer acknowledged before close() is in the database (writer API)', async () => {
    const students = await createUsers(t.app, 3);
    const exam = await createExam(t.app, admin, examBody(200, 2), { enroll: students });
    // A long flush interval: when close() is called, most answers are still in the buffer.
    const n = await node({ ANSWER_FLUSH_MS: '500', ANSWER_BATCH_SIZE: '100' });
    const attempts = [];
    for (const s of students) attempts.push((await startAttempt(n.url, s, exam.id)).started);
    const writes = attempts.flatMap((started) =>
      questionsOf(started.exam).map((q, i) => ({ attemptId: started.attempt.id, questionId: q.id, optionId: q.options[i % 3]!.id, seq: 1 })),
    );
    const outcomes = writes.map((w) => n.app.answers.enqueue({ ...w, answeredAt: new Date() }).then(
      (r) => r,
      (e: unknown) => e,
    ));
    await n.app.close();
    const settled = await Promise.all(outcomes);
    // Draining on close: every one of them was written, none refused.
    expect(settled.filter((r) => r === 'ok')).toHaveLength(writes.length);
    const rows = await stored(attempts.map((a) => a.attempt.id));
    expect(rows).toHaveLength(writes.length);
    const byKey = new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r.option_id]));
    for (const w of writes) expect(byKey.get(`${w.attemptId}:${w.questionId}`)).toBe(w.optionId);
    // New work after close is refused, retryably.
    await expect(n.app.answers.enqueue({ ...writes[0]!, seq: 2, answeredAt: new Date() })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      extra: { retryAfterMs: expect.any(Number) },
    });
  });

  it('every answer acknowledged over a socket before the node went down is in the database', async () => {
    const students = await createUsers(t.app, 2);
    const exam = await createExam(t.app, admin, examBody(60, 2), { enroll: students });
    // Small sequential batches: when the first ack is back, most answers are still buffered or in flight.
    const n = await node({ ANSWER_FLUSH_MS: '20', ANSWER_BATCH_SIZE: '10', ANSWER_FLUSH_CONCURRENCY: '1' });
    const tabs = await Promise.all(students.map((s) => startAttempt(n.url, s, exam.id)));
    const acked: { attemptId: number; questionId: number; optionId: number; seq: number }[] = [];
    let refusedOrLost = 0;
    const sends = tabs.flatMap(({ socket, started }) =>
      questionsOf(started.exam).map(async (q, i) => {
        const payload = { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[i % 3]!.id, seq: 1 };
        try {
          const ack: Ack<{ seq: number }> = await request(socket, EXAM_EVENTS.answer, payload, 3000);
          if (ack.ok) acked.push(payload);
          else refusedOrLost++;
        } catch {
          refusedOrLost++; // the connection closed before the ack: the client would re-send
        }
      }),
    );
    // Shut down while the answers are in flight (after the first of them is durable).
    while (acked.length === 0) await sleep(1);
    await n.app.close();
    await Promise.all(sends);
    expect(acked.length + refusedOrLost).toBe(120);
    expect(acked.length).toBeGreaterThan(0);
    const rows = await stored(tabs.map((x) => x.started.attempt.id));
    const byKey = new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r]));
    for (const a of acked) expect(byKey.get(`${a.attemptId}:${a.questionId}`)).toMatchObject({ option_id: a.optionId, seq: a.seq });
  });
});

describe('back-pressure', () => {
  it('with the writer full, answers get UNAVAILABLE with retryAfterMs; after waiting, they are served', async () => {
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(12, 1), { enroll: [student] });
    const n = await node({ ANSWER_MAX_PENDING: '5', ANSWER_FLUSH_MS: '200' });
    const { socket, started } = await startAttempt(n.url, student, exam.id);
    const attemptId = started.attempt.id;
    const qs = questionsOf(started.exam);
    const send = (i: number) => request(socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[i]!.id, optionId: qs[i]!.options[0]!.id, seq: 1 });
    const acks = await Promise.all(qs.map((_, i) => send(i)));
    const okIdx = acks.flatMap((a, i) => (a.ok ? [i] : []));
    const refused = acks.flatMap((a, i) => (!a.ok ? [{ i, error: a.error }] : []));
    expect(okIdx.length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.error.code).toBe('UNAVAILABLE');
      expect(r.error.retryAfterMs).toBeGreaterThan(0);
    }
    // Only the accepted ones were written.
    const rows = await stored([attemptId]);
    expect(rows.map((r) => r.question_id).sort()).toEqual(okIdx.map((i) => qs[i]!.id).sort());

    // A client that waits as told and re-sends (a few at a time) gets every one stored.
    await sleep(Math.max(...refused.map((r) => r.error.retryAfterMs!)));
    const retry = refused.map((r) => r.i);
    for (let k = 0; k < retry.length; k += 5) {
      const batch = await Promise.all(retry.slice(k, k + 5).map(send));
      expect(batch.every((a) => a.ok)).toBe(true);
    }
    expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [attemptId])).toBe(qs.length);
  });
});
