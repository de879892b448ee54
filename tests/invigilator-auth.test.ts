/**
 * Who may use `/invigilator`, and on what: the handshake (role), the exam (assignment, re-checked on
 * every action, not once per connection), the payloads (VALIDATION) and the ids (NOT_FOUND). A refused
 * action changes nothing in the database and reaches no student.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE } from '../server/protocol.js';
import { examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { collectRoster, createExamVia, insertUser, sleep, tokensFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok, recordAll, request, requestRaw, type InvigilatorClientSocket, type RequestOf, type StudentSocket } from './helpers/sockets.js';

let node: TestApp;
let dbUrl: string;
let exam1: number;
let exam2: number;
let attempt1: number;
let attempt2: number;
let student1: StudentSocket;
let student1Seen: ReturnType<typeof recordAll>;
let studentToken: string;
let invigilatorToken: string;
let otherToken: string;
let adminToken: string;

const OTHER_EMAIL = 'Other.Invigilator@Example.com';
const OTHER_PASSWORD = 'other-pass-123';

beforeAll(async () => {
  [node] = (await startCluster(1)) as [TestApp];
  dbUrl = node.databaseUrl;
  exam1 = (await seed(node.app, 3)).examId;
  // A second invigilator: no user-creation API, so straight into the database (e-mail lower-cased there).
  await insertUser(dbUrl, { email: OTHER_EMAIL, name: 'Olga Other', role: 'invigilator', password: OTHER_PASSWORD });
  adminToken = await loginAs(node.app, 'admin@example.com');
  invigilatorToken = await loginAs(node.app, 'invigilator@example.com');
  otherToken = await loginAs(node.app, OTHER_EMAIL.toLowerCase(), OTHER_PASSWORD);
  exam2 = (
    await createExamVia(node, adminToken, examBody(3, 1, { title: 'Other exam' }), {
      students: ['student3@example.com'],
      invigilators: [OTHER_EMAIL.toLowerCase()],
    })
  ).id;

  const tokens = await tokensFor(node, ['student1@example.com', 'student2@example.com']);
  studentToken = tokens.get('student1@example.com')!.token;
  student1 = await connectSocket(node.url, EXAM_NAMESPACE, studentToken);
  attempt1 = (await ok(student1, EXAM_EVENTS.start, { examId: exam1 })).attempt.id;
  student1Seen = recordAll(student1);
  const student2 = await connectSocket(node.url, EXAM_NAMESPACE, tokens.get('student2@example.com')!.token);
  attempt2 = (await ok(student2, EXAM_EVENTS.start, { examId: exam1 })).attempt.id;
});

/** Everything an action could change, to compare before and after a refusal. */
async function snapshot() {
  return {
    attempts: await sql(dbUrl, 'select id, status, deadline_at, submitted_at, score from attempts order by id'),
    audit: await sql(dbUrl, 'select id, type, actor_id from proctor_events order by id'),
  };
}

describe('handshake', () => {
  it('refuses a student token (FORBIDDEN), a bad token and no token (UNAUTHORIZED)', async () => {
    await expect(connectSocket(node.url, INVIGILATOR_NAMESPACE, studentToken)).rejects.toThrow('FORBIDDEN');
    await expect(connectSocket(node.url, INVIGILATOR_NAMESPACE, 'not-a-jwt')).rejects.toThrow('UNAUTHORIZED');
    await expect(connectSocket(node.url, INVIGILATOR_NAMESPACE, invigilatorToken.slice(0, -3) + 'xyz')).rejects.toThrow('UNAUTHORIZED');
    await expect(connectSocket(node.url, INVIGILATOR_NAMESPACE, undefined)).rejects.toThrow('UNAUTHORIZED');
  });
});

describe('an invigilator not assigned to the exam', () => {
  it('may watch their own exam but not another one', async () => {
    const inv = await connectSocket(node.url, INVIGILATOR_NAMESPACE, otherToken);
    const own = await ok(inv, INVIGILATOR_EVENTS.watch, { examId: exam2 });
    expect(own.roster).toHaveLength(1);
    const rows = collectRoster(inv);
    expect(await request(inv, INVIGILATOR_EVENTS.watch, { examId: exam1 })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    // Not in the room: exam 1's live updates do not reach them.
    await ok(student1, EXAM_EVENTS.proctor, { attemptId: attempt1, type: 'paste' });
    await sleep(1300);
    expect(rows.filter((r) => r.payload.attemptId === attempt1)).toEqual([]);
  });

  it('is refused FORBIDDEN on every action on the other exam, and nothing changes', async () => {
    const inv = await connectSocket(node.url, INVIGILATOR_NAMESPACE, otherToken);
    const before = await snapshot();
    const seenBefore = student1Seen.length;
    const actions: RequestOf<InvigilatorClientSocket>[] = [
      [INVIGILATOR_EVENTS.extendAttempt, { attemptId: attempt1, seconds: 600 }],
      [INVIGILATOR_EVENTS.extendExam, { examId: exam1, seconds: 600 }],
      [INVIGILATOR_EVENTS.message, { attemptId: attempt1, text: 'hello from elsewhere' }],
      [INVIGILATOR_EVENTS.announce, { examId: exam1, text: 'hello everyone' }],
      [INVIGILATOR_EVENTS.terminate, { attemptId: attempt1, reason: 'not yours' }],
      [INVIGILATOR_EVENTS.forceSubmit, { attemptId: attempt2 }],
    ];
    for (const [event, payload] of actions) {
      expect(await request(inv, event, payload), event).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    await sleep(200);
    expect(await snapshot()).toEqual(before);
    const statuses = await sql<{ status: string }>(dbUrl, 'select status from attempts where id = any($1::int[])', [[attempt1, attempt2]]);
    expect(statuses.map((s) => s.status)).toEqual(['in_progress', 'in_progress']);
    expect(student1Seen.slice(seenBefore).filter((e) => e.event === 'message' || e.event === 'timer' || e.event === 'attempt:ended')).toEqual([]);

    // The same actions by the assigned invigilator are allowed (the refusal was about the assignment).
    const assigned = await connectSocket(node.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    await ok(assigned, INVIGILATOR_EVENTS.message, { attemptId: attempt1, text: 'allowed' });
  });
});

describe('an admin', () => {
  it('may watch any exam and act on it', async () => {
    const admin = await connectSocket(node.url, INVIGILATOR_NAMESPACE, adminToken);
    const r1 = await ok(admin, INVIGILATOR_EVENTS.watch, { examId: exam1 });
    expect(r1.roster).toHaveLength(3);
    const r2 = await ok(admin, INVIGILATOR_EVENTS.watch, { examId: exam2 });
    expect(r2.roster.map((r) => r.status)).toEqual(['not_started']);
    await ok(admin, INVIGILATOR_EVENTS.message, { attemptId: attempt2, text: 'from the admin' });
    const [row] = await sql<{ actor_id: number }>(
      dbUrl,
      `select actor_id from proctor_events where attempt_id = $1 and type = 'message' and detail->>'text' = 'from the admin'`,
      [attempt2],
    );
    expect(row!.actor_id).toBe((await sql<{ id: number }>(dbUrl, `select id from users where email = 'admin@example.com'`))[0]!.id);
    expect(await request(admin, INVIGILATOR_EVENTS.watch, { examId: 999_999 })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });
});

describe('payloads and ids', () => {
  it('refuses invalid payloads with VALIDATION, without closing the socket', async () => {
    const inv = await connectSocket(node.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    const before = await snapshot();
    const bad: [string, unknown][] = [
      ['attempt:extend', { attemptId: attempt1, seconds: 0 }],
      ['attempt:extend', { attemptId: attempt1, seconds: -60 }],
      ['attempt:extend', { attemptId: attempt1, seconds: 1.5 }],
      ['attempt:extend', { attemptId: attempt1, seconds: '60' }],
      ['attempt:extend', { seconds: 60 }],
      ['exam:extend', { examId: exam1, seconds: 0 }],
      ['exam:extend', { examId: exam1 }],
      ['attempt:message', { attemptId: attempt1, text: '' }],
      ['attempt:message', { text: 'who?' }],
      ['exam:announce', { examId: exam1, text: '' }],
      ['exam:announce', { text: 'where?' }],
      ['attempt:terminate', { attemptId: attempt1 }],
      ['attempt:terminate', { attemptId: attempt1, reason: '' }],
      ['attempt:submit', {}],
      ['attempt:submit', { attemptId: 0 }],
      ['exam:watch', {}],
      ['exam:watch', { examId: exam1, extra: true }],
      ['exam:watch', 'exam1'],
      ['exam:stop', { examId: exam1 }],
    ];
    for (const [event, payload] of bad) {
      expect(await requestRaw(inv, event, payload), `${event} ${JSON.stringify(payload)}`).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
      // The token bucket allows 40 at once, then 10 a second.
      await sleep(20);
    }
    expect(inv.connected).toBe(true);
    expect(await snapshot()).toEqual(before);
  });

  it('answers NOT_FOUND for unknown attempt ids', async () => {
    const inv = await connectSocket(node.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    const missing = 2_000_000;
    const actions: RequestOf<InvigilatorClientSocket>[] = [
      [INVIGILATOR_EVENTS.extendAttempt, { attemptId: missing, seconds: 60 }],
      [INVIGILATOR_EVENTS.message, { attemptId: missing, text: 'anyone?' }],
      [INVIGILATOR_EVENTS.terminate, { attemptId: missing, reason: 'x' }],
      [INVIGILATOR_EVENTS.forceSubmit, { attemptId: missing }],
    ];
    for (const [event, payload] of actions) {
      expect(await request(inv, event, payload), event).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
  });
});
