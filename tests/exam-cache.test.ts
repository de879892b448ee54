/**
 * The question cache: Redis keys per exam version (student view without the key, the key apart, both
 * with a TTL), single-flight on a cold start, a second node served from Redis, a new version on edit.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers, keyLeaks, questionsOf, startAttempt, type TestUser } from './helpers/exam.js';
import { connectSocket, ok } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let redis: Redis;
let admin: TestUser;

beforeAll(async () => {
  const shared = { prefix: `test-${randomBytes(4).toString('hex')}:` };
  a = await createTestApp({ redis: shared, env: { SWEEP_INTERVAL_MS: '60000' } });
  b = await createTestApp({ redis: shared, env: { SWEEP_INTERVAL_MS: '60000' }, databaseUrl: a.databaseUrl });
  await Promise.all([a.listen(), b.listen()]);
  redis = a.app.redis!;
  [admin] = (await createUsers(a.app, 1, 'admin')) as [TestUser];
});

const keyName = (examId: number, version: number, part: 'questions' | 'key') => `${a.config.redisKeyPrefix}exam:${examId}:v${version}:${part}`;

describe('question cache', () => {
  it('20 students starting at once on a cold cache cost one database load; Redis then holds the view and the key with a TTL', async () => {
    const students = await createUsers(a.app, 20);
    const exam = await createExam(a.app, admin, examBody(30, 3), { enroll: students });
    expect(await redis.exists(keyName(exam.id, 1, 'questions'), keyName(exam.id, 1, 'key'))).toBe(0);
    const sockets = await Promise.all(students.map((s) => connectSocket(a.url, EXAM_NAMESPACE, s.token)));
    const stats = a.app.questions.stats;
    const before = { ...stats };
    const starts = await Promise.all(sockets.map((s) => ok(s, EXAM_EVENTS.start, { examId: exam.id })));
    expect(stats.dbLoads - before.dbLoads).toBe(1);
    expect(new Set(starts.map((s) => JSON.stringify(s.exam))).size).toBe(1);

    // The Redis write follows the load without being awaited by the start.
    let view: string | null = null;
    for (let i = 0; i < 50 && !view; i++) {
      view = await redis.get(keyName(exam.id, 1, 'questions'));
      if (!view) await new Promise((r) => setTimeout(r, 20));
    }
    expect(view).not.toBeNull();
    const parsed = JSON.parse(view!);
    expect(parsed).toEqual(starts[0]!.exam);
    expect(keyLeaks(parsed)).toEqual([]);
    expect(view).not.toMatch(/correct/i);
    expect(await redis.exists(keyName(exam.id, 1, 'key'))).toBe(1);
    for (const part of ['questions', 'key'] as const) {
      const ttl = await redis.ttl(keyName(exam.id, 1, part));
      expect(ttl, part).toBeGreaterThan(0);
      expect(ttl, part).toBeLessThanOrEqual(3600);
    }
    // The key part holds what the server needs to score: every question's correct option.
    const keyPart = await redis.get(keyName(exam.id, 1, 'key'));
    for (const q of questionsOf(exam)) expect(keyPart).toContain(String(q.options.find((o) => o.isCorrect)!.id));

    // Answers check their question against the cached key: no load either.
    const q = questionsOf(starts[0]!.exam)[0]!;
    await ok(sockets[0]!, EXAM_EVENTS.answer, { attemptId: starts[0]!.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    expect(stats.dbLoads - before.dbLoads).toBe(1);
  });

  it('a second node sharing Redis starts its first student from Redis, without loading the tree', async () => {
    const students = await createUsers(a.app, 2);
    const exam = await createExam(a.app, admin, examBody(12, 2), { enroll: students });
    const first = await startAttempt(a.url, students[0]!, exam.id);
    // Wait until node A's write reached Redis.
    for (let i = 0; i < 50 && !(await redis.exists(keyName(exam.id, 1, 'key'))); i++) await new Promise((r) => setTimeout(r, 20));

    const stats = b.app.questions.stats;
    const before = { ...stats };
    const { result: second, statements } = await b.app.queries.record(() => startAttempt(b.url, students[1]!, exam.id));
    expect(stats.dbLoads - before.dbLoads).toBe(0);
    expect(stats.redisHits - before.redisHits).toBeGreaterThanOrEqual(1);
    expect(statements.length).toBeLessThanOrEqual(2);
    expect(second.started.exam).toEqual(first.started.exam);
    // And answers on node B are checked against the key from Redis.
    const q = questionsOf(second.started.exam)[0]!;
    await ok(second.socket, EXAM_EVENTS.answer, { attemptId: second.started.attempt.id, questionId: q.id, optionId: q.options[2]!.id, seq: 1 });
    expect(stats.dbLoads - before.dbLoads).toBe(0);
  });

  it('an edit bumps the version: new keys are used and students see the edit', async () => {
    const students = await createUsers(a.app, 2);
    const exam = await createExam(a.app, admin, examBody(6, 1), { enroll: students });
    const first = await startAttempt(a.url, students[0]!, exam.id);
    expect(first.started.exam.title).toBe(exam.title);
    const patched = await a.app.inject({ method: 'PATCH', url: `/api/exams/${exam.id}`, headers: admin.headers, payload: { title: 'Renamed' } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().version).toBe(2);

    const loads = a.app.questions.stats.dbLoads;
    const second = await startAttempt(a.url, students[1]!, exam.id);
    expect(second.started.exam.title).toBe('Renamed');
    expect(a.app.questions.stats.dbLoads).toBe(loads + 1);
    for (let i = 0; i < 50 && !(await redis.exists(keyName(exam.id, 2, 'questions'))); i++) await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse((await redis.get(keyName(exam.id, 2, 'questions')))!).title).toBe('Renamed');
    expect(JSON.parse((await redis.get(keyName(exam.id, 1, 'questions')))!).title).toBe(exam.title);
    // A resume now shows the current version too, on either node.
    const resumed = await startAttempt(b.url, students[0]!, exam.id);
    expect(resumed.started.exam.title).toBe('Renamed');
    expect(resumed.started.attempt.id).toBe(first.started.attempt.id);
  });

  it('a value in Redis that does not fit its schema (corrupt, or an older format) is reloaded from the database and replaced', async () => {
    const students = await createUsers(a.app, 2);
    const exam = await createExam(a.app, admin, examBody(5, 1), { enroll: students });
    // Planted before any node cached the exam: what a node would find after a bad write or an upgrade.
    await redis.set(keyName(exam.id, 1, 'questions'), JSON.stringify({ id: exam.id, title: 'stale', sections: 'not a list' }), 'EX', 60);
    await redis.set(keyName(exam.id, 1, 'key'), '{"q": [[1, 2]], "max": "x"', 'EX', 60);
    const stats = b.app.questions.stats;
    const before = { ...stats };
    const { started, socket } = await startAttempt(b.url, students[0]!, exam.id);
    expect(stats.redisHits - before.redisHits).toBe(0);
    expect(stats.dbLoads - before.dbLoads).toBe(1);
    expect(started.exam.title).toBe(exam.title);
    expect(questionsOf(started.exam)).toHaveLength(5);
    // Answers are checked against the reloaded key.
    const q = questionsOf(started.exam)[0]!;
    await ok(socket, 'answer', { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    // And Redis now holds the good value again.
    let view: { title?: string; sections?: unknown } = {};
    for (let i = 0; i < 50 && !Array.isArray(view.sections); i++) {
      view = JSON.parse((await redis.get(keyName(exam.id, 1, 'questions'))) ?? '{}');
      if (!Array.isArray(view.sections)) await new Promise((r) => setTimeout(r, 20));
    }
    expect(view.title).toBe(exam.title);
    expect(JSON.parse((await redis.get(keyName(exam.id, 1, 'key')))!).q).toHaveLength(5);
  });
});
