/**
 * Redis is a cache and a fan-out, never on the durable path: with every Redis client of a node cut,
 * students still start (questions from the database), answer (acked after commit), submit, and the
 * node's invigilators still get a roster with this node's presence. /readyz says Redis is down.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, questionsOf, type TestUser } from './helpers/exam.js';
import { countRows } from './helpers/pg.js';
import { connectSocket, ok } from './helpers/sockets.js';

let t: TestApp;
let admin: TestUser;
let invigilator: TestUser;

beforeAll(async () => {
  t = await createTestApp({ redis: true, env: { LOG_LEVEL: 'error' } });
  await t.listen();
  [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
  [invigilator] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
});

describe('with Redis gone', () => {
  it('students still start, answer durably and submit; the roster still answers', async () => {
    const students = await createUsers(t.app, 2);
    // Created before the outage, never loaded: its questions must come from the database.
    const exam = await createExam(t.app, admin, examBody(6, 2), { enroll: students });

    t.app.redis!.disconnect();
    t.app.fanout!.pub.disconnect();
    t.app.fanout!.sub.disconnect();
    while (t.app.fanout!.sub.status === 'ready') await new Promise((r) => setTimeout(r, 10));
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks).toMatchObject({ database: 'ok', redis: 'down', fanout: 'down' });

    const socket = await connectSocket(t.url, EXAM_NAMESPACE, students[0]!.token);
    const started = await ok(socket, EXAM_EVENTS.start, { examId: exam.id });
    const questions = questionsOf(started.exam);
    expect(questions).toHaveLength(6);
    for (const [i, q] of questions.entries()) {
      await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: i + 1 });
    }
    expect(await countRows(t.databaseUrl, 'attempt_answers where attempt_id = $1', [started.attempt.id])).toBe(6);

    const room = await connectSocket(t.url, INVIGILATOR_NAMESPACE, invigilator.token);
    const watch = await ok(room, INVIGILATOR_EVENTS.watch, { examId: exam.id });
    expect(watch.roster.find((r) => r.student.id === students[0]!.id)).toMatchObject({ connected: true, answered: 6 });

    const submitted = await ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id });
    expect(submitted.attempt.status).toBe('submitted');
  });
});
