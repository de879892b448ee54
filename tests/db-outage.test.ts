/**
 * A database outage is a retryable refusal, not a bug: while PostgreSQL is unreachable, HTTP routes
 * answer 503 UNAVAILABLE and socket requests (attempt:start, submit, invigilator actions) ack
 * UNAVAILABLE, each with `retryAfterMs`; the connection survives, and once the database is back the
 * same requests succeed.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { EXAM_EVENTS, INVIGILATOR_EVENTS } from '../server/protocol.js';
import { bearer, createTestApp, examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { createTestDatabase } from './helpers/db.js';
import { connectSocket, ok, request } from './helpers/sockets.js';
import { createExam, createUsers, eventually, keyOf, questionsOf, sleep, startAttempt, type TestUser } from './helpers/exam.js';
import { sql } from './helpers/pg.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { poolCounts } from '../server/db/health.js';
import { query } from '../server/db/sql.js';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../server/db/orm.js';

let t: TestApp;
let proxy: TcpProxy;
let examId: number;
let studentToken: string;
let invigilatorToken: string;
let directUrl: string;
const target = () => directUrl;

beforeAll(async () => {
  const { url } = await createTestDatabase();
  directUrl = url;
  const target = new URL(url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  t = await createTestApp({ databaseUrl: viaProxy.toString(), env: { DB_POOL_MIN: '0', DB_POOL_MAX: '3', SWEEP_INTERVAL_MS: '200' } });
  await t.listen();
  examId = (await seed(t.app, 2)).examId;
  studentToken = await loginAs(t.app, 'student1@example.com');
  invigilatorToken = await loginAs(t.app, 'invigilator@example.com');
});

describe('with the database unreachable', () => {
  it('HTTP and socket requests are refused UNAVAILABLE with retryAfterMs, and served again once it is back', async () => {
    const student = await connectSocket(t.url, '/exam', studentToken);
    const invigilator = await connectSocket(t.url, '/invigilator', invigilatorToken);
    const started = await ok(student, EXAM_EVENTS.start, { examId });
    const attemptId = started.attempt.id;

    await proxy.down();
    try {
      const list = await t.app.inject({ method: 'GET', url: '/api/exams', headers: bearer(studentToken) });
      expect(list.statusCode).toBe(503);
      expect(list.json()).toMatchObject({ error: { code: 'UNAVAILABLE', retryAfterMs: expect.any(Number) } });
      expect(list.headers['retry-after']).toBeDefined();

      // A fresh socket: nothing of the attempt is cached on it, so the start must go to the database.
      const fresh = await connectSocket(t.url, '/exam', studentToken);
      const unavailable = { ok: false, error: { code: 'UNAVAILABLE', retryAfterMs: expect.any(Number) } };
      expect(await request(fresh, EXAM_EVENTS.start, { examId }, 15_000)).toMatchObject(unavailable);
      expect(await request(student, EXAM_EVENTS.submit, { attemptId }, 15_000)).toMatchObject(unavailable);
      expect(await request(invigilator, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60 }, 15_000)).toMatchObject(unavailable);
      expect(student.connected && fresh.connected && invigilator.connected).toBe(true);
    } finally {
      await proxy.up();
    }

    const again = await t.app.inject({ method: 'GET', url: '/api/exams', headers: bearer(studentToken) });
    expect(again.statusCode).toBe(200);
    const submitted = await ok(student, EXAM_EVENTS.submit, { attemptId });
    expect(submitted.attempt.status).toBe('submitted');
  });

  it('down across a deadline: once back, the sweeper ends every expired attempt at its deadline, counting the answers acknowledged before', async () => {
    const [admin] = (await createUsers(t.app, 1, 'admin')) as [TestUser];
    const students = await createUsers(t.app, 5);
    const exam = await createExam(t.app, admin, examBody(2, 1, { durationSeconds: 2, gracePeriodSeconds: 0 }), { enroll: students });
    const key = keyOf(exam);
    const attemptIds: number[] = [];
    for (const student of students) {
      const { socket, started } = await startAttempt(t.url, student, exam.id);
      const q = questionsOf(started.exam)[0]!;
      await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: key.get(q.id)!.correct, seq: 1 });
      attemptIds.push(started.attempt.id);
    }
    const sweepLogs = (spy: { mock: { calls: unknown[][] } }): string[] =>
      spy.mock.calls.map((c) => c[1]).filter((m): m is string => typeof m === 'string' && m.startsWith('deadline sweep'));
    const errors = vi.spyOn(t.app.log, 'error');
    const warnings = vi.spyOn(t.app.log, 'warn');
    await proxy.down();
    try {
      await sleep(2500); // every deadline passes while the database is away (about 12 sweeps fail)
    } finally {
      await proxy.up();
    }
    const ended = async () =>
      sql<{ status: string; on_time: boolean; score: number }>(
        target(),
        'select status, submitted_at = deadline_at as on_time, score from attempts where id = any($1::int[])',
        [attemptIds],
      );
    let rows = await ended();
    for (let i = 0; i < 100 && rows.some((r) => r.status === 'in_progress'); i++) {
      await sleep(100);
      rows = await ended();
    }
    expect(rows).toHaveLength(students.length);
    for (const row of rows) expect(row).toEqual({ status: 'expired', on_time: true, score: expect.any(Number) });
    expect(rows.every((r) => r.score > 0)).toBe(true);
    // The outage is one warning when sweeping pauses and one when it resumes, not an error per interval.
    // (The first test's outage may log its own "resumed" after the spy began: count from the pause.)
    await eventually(async () => sweepLogs(warnings).at(-1)?.includes('resumed'));
    const logged = sweepLogs(warnings);
    expect(logged.slice(logged.indexOf('deadline sweep paused: the database is unreachable; retrying every interval'))).toEqual([
      'deadline sweep paused: the database is unreachable; retrying every interval',
      'deadline sweep resumed: the database is reachable again',
    ]);
    expect(sweepLogs(errors)).toEqual([]);
    errors.mockRestore();
    warnings.mockRestore();
  }, 60_000);

  it('a transaction cut by the outage gives its connection back: more cuts than the pool has connections, and the pool still serves', async () => {
    // kysely 0.29 released a transaction's connection only after a successful rollback: each of these
    // cuts kept one of the pool's 3 connections for good (server/db/dead-connection-release.ts).
    for (let cut = 0; cut < 4; cut++) {
      const inFlight = t.app.orm.em.fork().transactional(async (em) => {
        await query(em, 'select 1');
        await query(em, 'select pg_sleep(2)');
      });
      await sleep(200);
      await proxy.down();
      await expect(inFlight).rejects.toThrow();
      await proxy.up();
    }
    await eventually(async () => {
      const { totalCount, idleCount, waitingCount } = await poolCounts(t.app.orm);
      return totalCount === idleCount && waitingCount === 0;
    });
    const list = await t.app.inject({ method: 'GET', url: '/api/exams', headers: bearer(studentToken) });
    expect(list.statusCode).toBe(200);
  });
});

describe('an outage that cuts the BEGIN of a transaction', () => {
  // A pool of one connection of its own, behind its own relay, so that nothing else (the sweeper)
  // sends the statement the relay cuts. kysely 0.29 never released a connection whose BEGIN failed.
  let orm: MikroORM;
  let relay: TcpProxy;
  beforeAll(async () => {
    const target = new URL(directUrl);
    relay = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaRelay = new URL(directUrl);
    viaRelay.hostname = '127.0.0.1';
    viaRelay.port = String(relay.port);
    orm = await MikroORM.init(ormOptions({ clientUrl: viaRelay.toString(), pool: { min: 0, max: 1, idleTimeoutMs: 30_000 } }));
    return () => orm.close(true);
  });
  const settled = async () => {
    await eventually(async () => {
      const { totalCount, idleCount, waitingCount } = await poolCounts(orm);
      return totalCount === idleCount && waitingCount === 0;
    });
    expect(await query(orm.em.fork(), 'select 1 as one')).toEqual([{ one: 1 }]);
  };

  it('gives the connection back (em.transactional), and the one-connection pool still serves', async () => {
    for (let cut = 0; cut < 3; cut++) {
      await query(orm.em.fork(), 'select 1'); // the pool holds an open, idle connection
      relay.cutNextWrite();
      await expect(orm.em.fork().transactional((em) => query(em, 'select 1'))).rejects.toThrow(/terminated|ECONNRESET/i);
      await settled();
    }
  });

  it("does not release twice where kysely releases on its own (db.transaction().execute)", async () => {
    const kysely = orm.em.getConnection().getClient();
    await query(orm.em.fork(), 'select 1');
    relay.cutNextWrite();
    const failed = kysely.transaction().execute(async () => undefined);
    // The connection error, not pg-pool's "Release called on client which has already been released".
    await expect(failed).rejects.toThrow(/terminated|ECONNRESET/i);
    await settled();
  });
});
