/**
 * Invigilator actions are atomic with their audit entry and idempotent with a client-chosen request
 * id (issue 9, item 2): a retried extend extends once and is audited once, the student's timer still
 * moves, and an action whose audit entry cannot be written did not happen.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, settle, startAttempt, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { connectSocket, nextEvent, ok, request, type InvigilatorClientSocket } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;
let students: TestUser[];
let examId: number;
let inv: InvigilatorClientSocket;

const rid = () => `req-${randomBytes(6).toString('hex')}`;
const audit = (type: string, attemptId: number | null) =>
  sql<{ actor_id: number; request_id: string | null; detail: unknown }>(
    t.databaseUrl,
    `select actor_id, request_id, detail from proctor_events where exam_id = $1 and type = $2 and attempt_id is not distinct from $3 order by id`,
    [examId, type, attemptId],
  );
const deadline = async (attemptId: number) =>
  (await sql<{ deadline_at: Date }>(t.databaseUrl, 'select deadline_at from attempts where id = $1', [attemptId]))[0]!.deadline_at.getTime();

beforeAll(async () => {
  // The forced audit failures below are logged as errors by design; keep the output readable.
  t = await createTestApp({ env: { LOG_LEVEL: 'fatal' } });
  await t.listen();
  admin = (await createUsers(t.app, 1, 'admin'))[0]!;
  students = await createUsers(t.app, 6, 'student');
  examId = (await createExam(t.app, admin, examBody(3, 1, { durationSeconds: 600 }), { enroll: students })).id;
  inv = await connectSocket(t.url, INVIGILATOR_NAMESPACE, admin.token);
});

describe('invigilator actions with a requestId', () => {
  it('a retried extend extends once, is audited once, returns the first result, and the student timer moves', async () => {
    const { socket, started } = await startAttempt(t.url, students[0]!, examId);
    const attemptId = started.attempt.id;
    const before = await deadline(attemptId);
    const requestId = rid();
    const timer = nextEvent(socket, EXAM_EVENTS.timer, (e) => e.reason === 'change');
    const first = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60, requestId });
    expect((await timer).deadlineAt).toBe(first.deadlineAt);
    const again = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60, requestId });
    // Two at once (a client that retries before the first ack): still one extension.
    const racing = await Promise.all([1, 2].map(() => ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60, requestId })));
    expect(again).toEqual(first);
    expect(racing).toEqual([first, first]);
    expect(await deadline(attemptId)).toBe(before + 60_000);
    expect(new Date(first.deadlineAt).getTime()).toBe(before + 60_000);
    const rows = await audit('time_extended', attemptId);
    expect(rows).toEqual([{ actor_id: admin.id, request_id: requestId, detail: { seconds: 60, deadlineAt: first.deadlineAt } }]);

    // A new request id is a new extension; without one, every request acts.
    await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 30, requestId: rid() });
    await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 30 });
    await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 30 });
    expect(await deadline(attemptId)).toBe(before + 150_000);
    expect(await audit('time_extended', attemptId)).toHaveLength(4);

    // The same id for another action or another attempt is refused, and does nothing.
    const other = (await startAttempt(t.url, students[1]!, examId)).started.attempt.id;
    const otherBefore = await deadline(other);
    expect(await request(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId: other, seconds: 60, requestId })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
    expect(await request(inv, INVIGILATOR_EVENTS.message, { attemptId, text: 'hi', requestId })).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(await deadline(other)).toBe(otherBefore);
  });

  it('exam:extend, messages, announcements, terminate and force-submit retried with their id act once', async () => {
    const a = (await startAttempt(t.url, students[2]!, examId)).started.attempt.id;
    const b = (await startAttempt(t.url, students[3]!, examId)).started.attempt.id;
    const [beforeA, beforeB] = [await deadline(a), await deadline(b)];

    const examReq = rid();
    const ext = await ok(inv, INVIGILATOR_EVENTS.extendExam, { examId, seconds: 10, requestId: examReq });
    expect(await ok(inv, INVIGILATOR_EVENTS.extendExam, { examId, seconds: 10, requestId: examReq })).toEqual(ext);
    expect(await deadline(a)).toBe(beforeA + 10_000);
    expect(await deadline(b)).toBe(beforeB + 10_000);
    expect((await audit('exam_time_extended', null)).filter((r) => r.request_id === examReq)).toHaveLength(1);

    const msgReq = rid();
    await ok(inv, INVIGILATOR_EVENTS.message, { attemptId: a, text: 'Eyes front', requestId: msgReq });
    await ok(inv, INVIGILATOR_EVENTS.message, { attemptId: a, text: 'Eyes front', requestId: msgReq });
    expect(await audit('message', a)).toHaveLength(1);
    const annReq = rid();
    await ok(inv, INVIGILATOR_EVENTS.announce, { examId, text: 'Five minutes', requestId: annReq });
    await ok(inv, INVIGILATOR_EVENTS.announce, { examId, text: 'Five minutes', requestId: annReq });
    expect((await audit('announcement', null)).filter((r) => r.request_id === annReq)).toHaveLength(1);

    const termReq = rid();
    const term = await ok(inv, INVIGILATOR_EVENTS.terminate, { attemptId: a, reason: 'Phone', requestId: termReq });
    expect(term.attempt.status).toBe('terminated');
    expect(await ok(inv, INVIGILATOR_EVENTS.terminate, { attemptId: a, reason: 'Phone', requestId: termReq })).toEqual(term);
    expect(await audit('terminated', a)).toEqual([{ actor_id: admin.id, request_id: termReq, detail: { reason: 'Phone' } }]);
    // Without the id, a second terminate is refused as before.
    expect(await request(inv, INVIGILATOR_EVENTS.terminate, { attemptId: a, reason: 'Phone' })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });

    const subReq = rid();
    const sub = await ok(inv, INVIGILATOR_EVENTS.forceSubmit, { attemptId: b, requestId: subReq });
    expect(await ok(inv, INVIGILATOR_EVENTS.forceSubmit, { attemptId: b, requestId: subReq })).toEqual(sub);
    expect(await audit('force_submitted', b)).toEqual([{ actor_id: admin.id, request_id: subReq, detail: {} }]);
  });

  it('statement budget: an extend is its authorization read plus ONE statement (update + audit insert together)', async () => {
    const attemptId = (await startAttempt(t.url, students[5]!, examId)).started.attempt.id;
    await settle(t.app);
    const { statements } = await t.app.queries.record(() => ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 5, requestId: rid() }));
    expect(statements).toHaveLength(2);
    expect(statements[1]).toMatch(/update attempts[\s\S]*insert into proctor_events/);
  });

  it('refuses a malformed requestId', async () => {
    for (const requestId of ['short', 'x'.repeat(65), 'has space in it', 'semi;colon;x']) {
      expect(await request(inv, INVIGILATOR_EVENTS.extendExam, { examId, seconds: 10, requestId }), requestId).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
    }
  });
});

describe('an action and its audit entry are one transaction', () => {
  it('when the audit entry cannot be written, the extension, the termination and the message did not happen', async () => {
    const { socket, started } = await startAttempt(t.url, students[4]!, examId);
    const attemptId = started.attempt.id;
    const before = await deadline(attemptId);
    // A failure inside the transaction: PostgreSQL refuses this exam's audit entries of invigilator actions.
    await sql(
      t.databaseUrl,
      `create or replace function refuse_action_audit() returns trigger language plpgsql as $$
       begin if new.actor_id is not null and new.type <> 'focus_lost' then raise exception 'audit refused (test)'; end if; return new; end $$`,
    );
    await sql(t.databaseUrl, `create trigger refuse_action_audit before insert on proctor_events for each row execute function refuse_action_audit()`);
    try {
      const messages: unknown[] = [];
      socket.on(EXAM_EVENTS.message, (m) => messages.push(m));
      const timers: unknown[] = [];
      socket.on(EXAM_EVENTS.timer, (e) => e.reason === 'change' && timers.push(e));
      for (const [event, payload] of [
        [INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60, requestId: rid() }],
        [INVIGILATOR_EVENTS.extendExam, { examId, seconds: 60 }],
        [INVIGILATOR_EVENTS.message, { attemptId, text: 'not sent' }],
        [INVIGILATOR_EVENTS.terminate, { attemptId, reason: 'not done' }],
        [INVIGILATOR_EVENTS.forceSubmit, { attemptId }],
      ] as const) {
        const res = await request(inv, event, payload as never);
        expect(res.ok, event).toBe(false);
      }
      expect(await deadline(attemptId)).toBe(before);
      const [row] = await sql<{ status: string }>(t.databaseUrl, 'select status from attempts where id = $1', [attemptId]);
      expect(row!.status).toBe('in_progress');
      expect(await audit('time_extended', attemptId)).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(messages).toEqual([]);
      expect(timers).toEqual([]);
    } finally {
      await sql(t.databaseUrl, 'drop trigger refuse_action_audit on proctor_events');
    }
    // Once the audit log takes entries again, the same action works (and the student's timer moves).
    const timer = nextEvent(socket, EXAM_EVENTS.timer, (e) => e.reason === 'change');
    const ext = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60 });
    expect((await timer).deadlineAt).toBe(ext.deadlineAt);
    expect(await deadline(attemptId)).toBe(before + 60_000);
  });
});
