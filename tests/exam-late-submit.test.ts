/**
 * A student's submit that arrives after deadline + grace (before any sweeper got there) closes the
 * attempt as the deadline's auto-submit would: `expired`, submitted at the deadline, scored, and
 * recorded in the audit log like an auto-submit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { ok } from './helpers/sockets.js';

let t: TestApp;

beforeAll(async () => {
  // No sweep during the test: the late submit itself must close and audit the attempt.
  t = await createTestApp({ env: { SWEEP_INTERVAL_MS: '60000' } });
  await t.listen();
});

describe('a submit after deadline + grace', () => {
  it('expires the attempt at its deadline and audits it once', async () => {
    const [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
    const [student] = (await createUsers(t.app, 1)) as [TestUser];
    const exam = await createExam(t.app, admin, examBody(2, 1, { durationSeconds: 1, gracePeriodSeconds: 0 }), { enroll: [student] });
    const { socket, started } = await startAttempt(t.url, student, exam.id);
    await sleep(1500);
    const submitted = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
    expect(submitted.attempt).toMatchObject({ status: 'expired', submittedAt: started.attempt.deadlineAt });
    const audit = await sql<{ type: string; detail: { trigger?: string } }>(
      t.databaseUrl,
      'select type, detail from proctor_events where attempt_id = $1',
      [started.attempt.id],
    );
    expect(audit).toEqual([{ type: 'auto_submitted', detail: { trigger: 'late_submit' } }]);
    // Submitting again changes nothing and writes nothing more.
    await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
    expect(await sql(t.databaseUrl, 'select 1 from proctor_events where attempt_id = $1', [started.attempt.id])).toHaveLength(1);
  });
});
