/**
 * The invigilator console across nodes (real Redis, three nodes in this process, real sockets): a
 * student on one node is seen live by an invigilator on another, and the invigilator's actions reach
 * the student wherever they are connected, move the deadline in the database, and are audited.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type AttemptStartResult, type RosterRow } from '../server/protocol.js';
import { bearer, examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { asList, collect, collectRoster, createExamVia, sleep, tokensFor, waitFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, nextEvent, ok, request, type InvigilatorClientSocket, type RequestOf, type StudentSocket } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let c: TestApp;
let dbUrl: string;
let demoExamId: number;
let demoKey: ExamAdminView;
let invigilatorId: number;
let invigilatorToken: string;
let adminToken: string;
const studentToken: Record<number, string> = {};

const student = (n: number) => `student${n}@example.com`;

beforeAll(async () => {
  [a, b, c] = (await startCluster(3)) as [TestApp, TestApp, TestApp];
  dbUrl = a.databaseUrl;
  demoExamId = (await seed(a.app, 8)).examId;
  invigilatorToken = await loginAs(b.app, 'invigilator@example.com');
  adminToken = await loginAs(a.app, 'admin@example.com');
  const tokens = await tokensFor(a, Array.from({ length: 8 }, (_, i) => student(i + 1)));
  for (let n = 1; n <= 8; n++) studentToken[n] = tokens.get(student(n))!.token;
  invigilatorId = (await sql<{ id: number }>(dbUrl, `select id from users where email = 'invigilator@example.com'`))[0]!.id;
  const res = await a.app.inject({ method: 'GET', url: `/api/exams/${demoExamId}`, headers: bearer(adminToken) });
  demoKey = res.json<ExamAdminView>();
});

/** The id of a correct (or, with `right: false`, a wrong) option of question `questionId` of the demo exam. */
function option(questionId: number, right = true): number {
  for (const s of demoKey.sections) {
    const q = s.questions.find((x) => x.id === questionId);
    if (q) return q.options.find((o) => o.isCorrect === right)!.id;
  }
  throw new Error(`no question ${questionId}`);
}

async function startOn(node: TestApp, n: number, examId: number): Promise<{ socket: StudentSocket; started: AttemptStartResult }> {
  const socket = await connectSocket(node.url, EXAM_NAMESPACE, studentToken[n]);
  const started = await ok(socket, EXAM_EVENTS.start, { examId });
  return { socket, started };
}

async function watch(node: TestApp, examId: number): Promise<{ inv: InvigilatorClientSocket; roster: RosterRow[] }> {
  const inv = await connectSocket(node.url, INVIGILATOR_NAMESPACE, invigilatorToken);
  const { roster } = await ok(inv, INVIGILATOR_EVENTS.watch, { examId });
  return { inv, roster };
}

async function studentId(n: number): Promise<number> {
  return (await sql<{ id: number }>(dbUrl, 'select id from users where email = $1', [student(n)]))[0]!.id;
}

/** The audit rows of an attempt (or of the exam, with `attemptId` null) written by the invigilator. */
async function auditRows(examId: number, attemptId: number | null, type: string) {
  return sql<{ actor_id: number; type: string; detail: Record<string, unknown>; attempt_id: number | null; exam_id: number }>(
    dbUrl,
    `select actor_id, type, detail, attempt_id, exam_id from proctor_events
     where exam_id = $1 and attempt_id is not distinct from $2 and type = $3 order by id`,
    [examId, attemptId, type],
  );
}

describe('live view across nodes', () => {
  it('shows a student on node A answering, flagged, and disconnecting to an invigilator on node B', async () => {
    const { inv, roster } = await watch(b, demoExamId);
    const sid = await studentId(1);
    expect(roster.find((r) => r.student.id === sid)).toMatchObject({ attemptId: null, status: 'not_started', connected: false });
    const rows = collectRoster(inv);

    const { socket, started } = await startOn(a, 1, demoExamId);
    const attemptId = started.attempt.id;
    await waitFor('started + connected on B', () =>
      rows.some((r) => r.payload.attemptId === attemptId && r.payload.status === 'in_progress') &&
      rows.some((r) => r.payload.student.id === sid && r.payload.connected === true),
    );

    const [q1, q2] = started.exam.sections[0]!.questions;
    await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: q1!.id, optionId: q1!.options[0]!.id, seq: 1 });
    await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: q2!.id, optionId: q2!.options[1]!.id, seq: 2 });
    const progress = await waitFor('answered 2 on B', () =>
      rows.find((r) => r.payload.attemptId === attemptId && r.payload.answered === 2),
    );
    expect(progress.payload.student.id).toBe(sid);

    const proctor = nextEvent(inv, INVIGILATOR_EVENTS.proctorEvent, (e) => e.attemptId === attemptId);
    await ok(socket, EXAM_EVENTS.proctor, { attemptId, type: 'focus_lost', detail: { durationMs: 1500 } });
    const ev = await proctor;
    expect(ev).toMatchObject({ attemptId, student: { id: sid }, type: 'focus_lost', detail: { durationMs: 1500 } });
    expect(Number.isNaN(Date.parse(ev.at))).toBe(false);
    expect(Math.abs(Date.parse(ev.at) - Date.now())).toBeLessThan(10_000);
    // A flag counts on the roster too (coalesced with progress).
    await waitFor('flags 1 on B', () => rows.some((r) => r.payload.attemptId === attemptId && r.payload.flags === 1));

    const gone = nextEvent(inv, INVIGILATOR_EVENTS.rosterUpdate, (u) =>
      asList(u).some((r) => r.student.id === sid && r.connected === false),
    );
    socket.disconnect();
    await gone;
    // A fresh snapshot agrees.
    const again = await ok(inv, INVIGILATOR_EVENTS.watch, { examId: demoExamId });
    expect(again.roster.find((r) => r.student.id === sid)).toMatchObject({
      attemptId,
      status: 'in_progress',
      connected: false,
      answered: 2,
      flags: 1,
    });
  });
});

describe('time extensions', () => {
  let shortExam: ExamAdminView;

  beforeAll(async () => {
    shortExam = await createExamVia(a, adminToken, examBody(4, 1, { title: 'Short exam', durationSeconds: 3, gracePeriodSeconds: 0 }), {
      students: [student(1), student(2), student(3)],
      invigilators: ['invigilator@example.com'],
    });
  });

  it('attempt:extend from B moves the deadline of a student on A, in the database too, and keeps answers open past the old deadline', async () => {
    const { inv } = await watch(b, shortExam.id);
    const rows = collectRoster(inv);
    const { socket, started } = await startOn(a, 1, shortExam.id);
    const attemptId = started.attempt.id;
    const oldDeadline = Date.parse(started.attempt.deadlineAt);
    const startedAt = Date.now();

    const timer = nextEvent(socket, EXAM_EVENTS.timer, (t) => t.reason === 'change');
    const ext = await ok(inv, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 5 });
    expect(Date.parse(ext.deadlineAt) - oldDeadline).toBe(5000);
    const t = await timer;
    expect(t).toMatchObject({ attemptId, reason: 'change', deadlineAt: ext.deadlineAt });
    expect(t.remainingMs).toBeGreaterThan(3000);

    const [db] = await sql<{ deadline_at: Date; status: string }>(dbUrl, 'select deadline_at, status from attempts where id = $1', [attemptId]);
    expect(db!.deadline_at.toISOString()).toBe(ext.deadlineAt);
    await waitFor('deadline on the roster', () => rows.some((r) => r.payload.attemptId === attemptId && r.payload.deadlineAt === ext.deadlineAt));

    // Audited: who, what, how much.
    const audit = await auditRows(shortExam.id, attemptId, 'time_extended');
    expect(audit).toEqual([
      expect.objectContaining({ actor_id: invigilatorId, detail: { seconds: 5, deadlineAt: ext.deadlineAt } }),
    ]);

    // One second past the old deadline (no grace): still open.
    await sleep(Math.max(0, oldDeadline + 1000 - Date.now(), startedAt + 4000 - Date.now()));
    expect(Date.now()).toBeGreaterThan(oldDeadline + 900);
    const q = shortExam.sections[0]!.questions[0]!;
    await expect(ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 })).resolves.toMatchObject({ seq: 1 });
    const [after] = await sql<{ status: string; n: string }>(
      dbUrl,
      `select a.status, (select count(*) from attempt_answers where attempt_id = a.id)::text as n from attempts a where a.id = $1`,
      [attemptId],
    );
    expect(after).toEqual({ status: 'in_progress', n: '1' });
  });

  it('exam:extend moves every attempt in progress (students on two nodes), and no ended one', async () => {
    // Student 3 finished already; students 1 (started above, on A) and 2 (on C) are in progress.
    const done = await startOn(a, 3, shortExam.id);
    await ok(done.socket, EXAM_EVENTS.submit, { attemptId: done.started.attempt.id });
    const s1 = await startOn(a, 1, shortExam.id);
    const s2 = await startOn(c, 2, shortExam.id);
    const before = await sql<{ id: number; deadline_at: Date }>(dbUrl, 'select id, deadline_at from attempts where exam_id = $1 order by id', [
      shortExam.id,
    ]);

    const { inv } = await watch(b, shortExam.id);
    const t1 = nextEvent(s1.socket, EXAM_EVENTS.timer, (t) => t.reason === 'change');
    const t2 = nextEvent(s2.socket, EXAM_EVENTS.timer, (t) => t.reason === 'change');
    const res = await ok(inv, INVIGILATOR_EVENTS.extendExam, { examId: shortExam.id, seconds: 10 });
    expect(res.extended).toBe(2);

    const after = await sql<{ id: number; deadline_at: Date }>(dbUrl, 'select id, deadline_at from attempts where exam_id = $1 order by id', [
      shortExam.id,
    ]);
    const moved = new Map(after.map((r, i) => [r.id, r.deadline_at.getTime() - before[i]!.deadline_at.getTime()]));
    expect(moved.get(s1.started.attempt.id)).toBe(10_000);
    expect(moved.get(s2.started.attempt.id)).toBe(10_000);
    expect(moved.get(done.started.attempt.id)).toBe(0);

    const byId = new Map(after.map((r) => [r.id, r.deadline_at.toISOString()]));
    expect((await t1).deadlineAt).toBe(byId.get(s1.started.attempt.id));
    expect((await t2).deadlineAt).toBe(byId.get(s2.started.attempt.id));

    expect(await auditRows(shortExam.id, null, 'exam_time_extended')).toEqual([
      expect.objectContaining({ actor_id: invigilatorId, attempt_id: null, detail: { seconds: 10, attempts: 2 } }),
    ]);
  });
});

describe('messages', () => {
  it('exam:announce reaches students on every node; attempt:message only its student', async () => {
    const s2 = await startOn(a, 2, demoExamId);
    const s3 = await startOn(c, 3, demoExamId);
    const s4 = await startOn(b, 4, demoExamId);
    const got = [s2, s3, s4].map((s) => collect(s.socket, EXAM_EVENTS.message));
    const { inv } = await watch(b, demoExamId);

    const before = Date.now();
    await ok(inv, INVIGILATOR_EVENTS.announce, { examId: demoExamId, text: 'Ten minutes left' });
    await waitFor('the announcement on all three nodes', () => got.every((g) => g.length === 1));
    for (const g of got) {
      expect(g[0]!.payload).toMatchObject({ text: 'Ten minutes left', from: 'Ivo Invigilator' });
      expect(Date.parse(g[0]!.payload.at)).toBeGreaterThan(before - 5000);
    }
    expect(await auditRows(demoExamId, null, 'announcement')).toEqual([
      expect.objectContaining({ actor_id: invigilatorId, detail: { text: 'Ten minutes left' } }),
    ]);

    await ok(inv, INVIGILATOR_EVENTS.message, { attemptId: s3.started.attempt.id, text: 'Eyes on your own screen' });
    await waitFor('the private message', () => got[1]!.length === 2);
    expect(got[1]![1]!.payload).toMatchObject({ text: 'Eyes on your own screen', from: 'Ivo Invigilator' });
    await sleep(300);
    expect(got[0]).toHaveLength(1);
    expect(got[2]).toHaveLength(1);
    expect(await auditRows(demoExamId, s3.started.attempt.id, 'message')).toEqual([
      expect.objectContaining({ actor_id: invigilatorId, detail: { text: 'Eyes on your own screen' } }),
    ]);
  });
});

describe('ending attempts', () => {
  it('attempt:terminate with a reason ends the attempt, tells the student (on another node) and the invigilator, and is audited', async () => {
    const { socket, started } = await startOn(c, 5, demoExamId);
    const attemptId = started.attempt.id;
    const { inv } = await watch(b, demoExamId);
    const rows = collectRoster(inv);
    const studentEnded = nextEvent(socket, EXAM_EVENTS.ended);
    const invEnded = nextEvent(inv, INVIGILATOR_EVENTS.ended, (e) => e.attemptId === attemptId);

    const res = await ok(inv, INVIGILATOR_EVENTS.terminate, { attemptId, reason: 'Phone on the desk' });
    expect(res.attempt).toMatchObject({ id: attemptId, status: 'terminated' });
    expect(await studentEnded).toEqual({ attemptId, status: 'terminated', reason: 'Phone on the desk' });
    expect(await invEnded).toEqual({ examId: demoExamId, attemptId, status: 'terminated', reason: 'Phone on the desk' });
    await waitFor('status on the roster', () => rows.some((r) => r.payload.attemptId === attemptId && r.payload.status === 'terminated'));

    const [db] = await sql<{ status: string; submitted_at: Date | null }>(dbUrl, 'select status, submitted_at from attempts where id = $1', [attemptId]);
    expect(db!.status).toBe('terminated');
    expect(db!.submitted_at).not.toBeNull();
    expect(await auditRows(demoExamId, attemptId, 'terminated')).toEqual([
      expect.objectContaining({ actor_id: invigilatorId, detail: { reason: 'Phone on the desk' } }),
    ]);

    // The student can no longer answer, and acting again on it is refused.
    const q = started.exam.sections[0]!.questions[0]!;
    const late = await request(socket, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    expect(late).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    const again: RequestOf<InvigilatorClientSocket>[] = [
      [INVIGILATOR_EVENTS.terminate, { attemptId, reason: 'again' }],
      [INVIGILATOR_EVENTS.forceSubmit, { attemptId }],
      [INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: 60 }],
    ];
    for (const [event, payload] of again) {
      expect(await request(inv, event, payload), event).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    }
    const [still] = await sql<{ status: string; deadline_at: Date }>(dbUrl, 'select status, deadline_at from attempts where id = $1', [attemptId]);
    expect(still!.status).toBe('terminated');
    expect(still!.deadline_at.toISOString()).toBe(started.attempt.deadlineAt);
    expect(await auditRows(demoExamId, attemptId, 'terminated')).toHaveLength(1);
    expect(await auditRows(demoExamId, attemptId, 'force_submitted')).toHaveLength(0);
    expect(await auditRows(demoExamId, attemptId, 'time_extended')).toHaveLength(0);
  });

  it('attempt:submit force-submits with a score, and is audited; a second one is ATTEMPT_CLOSED', async () => {
    const { socket, started } = await startOn(a, 6, demoExamId);
    const attemptId = started.attempt.id;
    const qs = started.exam.sections.flatMap((s) => s.questions);
    await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[0]!.id, optionId: option(qs[0]!.id), seq: 1 });
    await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[1]!.id, optionId: option(qs[1]!.id), seq: 2 });
    await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[2]!.id, optionId: option(qs[2]!.id, false), seq: 3 });
    const { inv } = await watch(b, demoExamId);
    const rows = collectRoster(inv);
    const studentEnded = nextEvent(socket, EXAM_EVENTS.ended);

    const res = await ok(inv, INVIGILATOR_EVENTS.forceSubmit, { attemptId });
    expect(res.attempt).toMatchObject({ id: attemptId, status: 'submitted', score: 2, maxScore: 24 });
    expect(await studentEnded).toEqual({ attemptId, status: 'submitted', reason: 'forced' });
    await waitFor('status on the roster', () => rows.some((r) => r.payload.attemptId === attemptId && r.payload.status === 'submitted'));

    const [db] = await sql<{ status: string; score: number; max_score: number }>(dbUrl, 'select status, score, max_score from attempts where id = $1', [
      attemptId,
    ]);
    expect(db).toEqual({ status: 'submitted', score: 2, max_score: 24 });
    expect(await auditRows(demoExamId, attemptId, 'force_submitted')).toEqual([expect.objectContaining({ actor_id: invigilatorId, detail: {} })]);

    expect(await request(inv, INVIGILATOR_EVENTS.forceSubmit, { attemptId })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    expect(await request(inv, INVIGILATOR_EVENTS.terminate, { attemptId, reason: 'late' })).toMatchObject({ ok: false, error: { code: 'ATTEMPT_CLOSED' } });
    const [still] = await sql<{ status: string }>(dbUrl, 'select status from attempts where id = $1', [attemptId]);
    expect(still!.status).toBe('submitted');
    expect(await auditRows(demoExamId, attemptId, 'force_submitted')).toHaveLength(1);
    expect(await auditRows(demoExamId, attemptId, 'terminated')).toHaveLength(0);
  });
});
