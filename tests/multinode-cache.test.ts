/**
 * Cross-node housekeeping over Redis: an exam edited through one node drops the in-process question
 * cache of every node (cluster bus), and `/readyz` of a node whose fan-out subscriber is gone says so.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { QuestionSet } from '../server/exam/question-set.js';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { bearer, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { tokensFor, waitFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;
let adminToken: string;
const students = new Map<string, { id: number; token: string }>();

beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  examId = (await seed(a.app, 3)).examId;
  adminToken = await loginAs(a.app, 'admin@example.com');
  for (const [k, v] of await tokensFor(a, ['student1@example.com', 'student2@example.com'])) students.set(k, v);
});

/** The node's in-process entries (`examId:version`), read through a cast: the eviction itself, not only its effect. */
const localKeys = (node: TestApp) =>
  [...(node.app.questions as unknown as { local: Map<string, QuestionSet> }).local.keys()];

describe('exam edits', () => {
  it("evict every node's in-process question cache; the next start there serves the new version", async () => {
    const s1 = await connectSocket(b.url, EXAM_NAMESPACE, students.get('student1@example.com')!.token);
    const first = await ok(s1, EXAM_EVENTS.start, { examId });
    expect(first.exam.title).toBe('Demo exam');
    const [{ version }] = (await sql<{ version: number }>(b.databaseUrl, 'select version from exams where id = $1', [examId])) as [{ version: number }];
    expect(localKeys(b)).toContain(`${examId}:${version}`);

    const evictB = vi.spyOn(b.app.questions, 'evict');
    const evictA = vi.spyOn(a.app.questions, 'evict');
    try {
      const res = await a.app.inject({ method: 'PATCH', url: `/api/exams/${examId}`, headers: bearer(adminToken), payload: { title: 'Demo exam (v2)' } });
      expect(res.statusCode).toBe(200);
      expect(res.json<{ version: number }>().version).toBe(version + 1);

      // Node B heard it over Redis and dropped its entries of that exam (and node A its own).
      await waitFor("B's eviction", () => evictB.mock.calls.length > 0, 3000);
      expect(evictB).toHaveBeenCalledWith(examId);
      expect(evictA).toHaveBeenCalledWith(examId);
      expect(localKeys(b).filter((k) => k.startsWith(`${examId}:`))).toEqual([]);
    } finally {
      evictA.mockRestore();
      evictB.mockRestore();
    }

    // Observable: a new start on B gets the new title; the resumed attempt too.
    const s2 = await connectSocket(b.url, EXAM_NAMESPACE, students.get('student2@example.com')!.token);
    expect((await ok(s2, EXAM_EVENTS.start, { examId })).exam.title).toBe('Demo exam (v2)');
    expect((await ok(s1, EXAM_EVENTS.start, { examId })).exam.title).toBe('Demo exam (v2)');
    expect(localKeys(b)).toContain(`${examId}:${version + 1}`);
  });
});

describe('/readyz', () => {
  it('reports fan-out down (503) on a node whose Redis subscriber is disconnected', async () => {
    const before = await b.app.inject({ method: 'GET', url: '/readyz' });
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ status: 'ready', checks: { database: 'ok', redis: 'ok', fanout: 'ok' } });

    b.app.fanout!.sub.disconnect();
    await waitFor('the subscriber to be gone', () => b.app.fanout!.sub.status === 'end');
    const after = await b.app.inject({ method: 'GET', url: '/readyz' });
    expect(after.statusCode).toBe(503);
    expect(after.json()).toMatchObject({ status: 'unavailable', checks: { database: 'ok', redis: 'ok', fanout: 'down' } });
    // The other node is unaffected.
    expect((await a.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
