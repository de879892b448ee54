/**
 * The roster an invigilator gets on `exam:watch`: every enrolled student, in the shape of `RosterRow`,
 * in at most two SQL statements whatever the class size; and the live progress that follows it,
 * coalesced to about one update per student per `PROGRESS_INTERVAL_MS`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isTransactionControl } from '../server/db/query-counter.js';
import type { ExamAdminView } from '../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type AttemptStartResult, type RosterRow } from '../server/protocol.js';
import { examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { collectRoster, createExamVia, insertStudents, sleep, tokensFor, waitFor } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok, type StudentSocket } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let adminToken: string;
let invigilatorToken: string;

const ROW_KEYS = ['answered', 'attemptId', 'connected', 'deadlineAt', 'extraTimeSeconds', 'flags', 'remainingMs', 'status', 'student', 'total'];

beforeAll(async () => {
  // No sweeps during the measurements: only the statements of the roster are counted.
  [a, b] = (await startCluster(2, { env: { SWEEP_INTERVAL_MS: '60000' } })) as [TestApp, TestApp];
  await seed(a.app, 1);
  adminToken = await loginAs(a.app, 'admin@example.com');
  invigilatorToken = await loginAs(a.app, 'invigilator@example.com');
});

/** An exam of `questions` questions with `students` new students enrolled (through the real route), invigilated by the demo invigilator. */
async function classOf(students: number, questions = 10): Promise<{ exam: ExamAdminView; students: { id: number; email: string; name: string }[] }> {
  const tag = `c${students}-${Math.random().toString(36).slice(2, 8)}`;
  const list = await insertStudents(a.databaseUrl, students, tag);
  const exam = await createExamVia(a, adminToken, examBody(questions, 2, { title: `Class of ${students}` }), {
    students: list.map((s) => s.email),
    invigilators: ['invigilator@example.com'],
  });
  return { exam, students: list };
}

async function measuredRoster(node: TestApp, examId: number): Promise<{ roster: RosterRow[]; statements: string[] }> {
  const invigilator = { id: (await sql<{ id: number }>(node.databaseUrl, `select id from users where email = 'invigilator@example.com'`))[0]!.id, role: 'invigilator' as const, name: 'Ivo Invigilator' };
  const { invigilation } = node.app;
  const { result, statements } = await node.app.queries.record(async () => {
    await invigilation.authorizeExam(invigilator, examId);
    return invigilation.roster(examId);
  });
  return { roster: result, statements: statements.filter((s) => !isTransactionControl(s)) };
}

describe('exam:watch roster', () => {
  it('lists every enrolled student with the RosterRow fields, started or not, in ≤ 2 statements for 5 and for 200 students', async () => {
    const small = await classOf(5);
    const large = await classOf(200);

    // Some life in both classes: two students started (one answered, one flagged), on node B.
    const tokens = await tokensFor(a, [small.students[0]!.email, small.students[1]!.email, large.students[7]!.email]);
    const live: { socket: StudentSocket; started: AttemptStartResult }[] = [];
    for (const [email, examId] of [
      [small.students[0]!.email, small.exam.id],
      [small.students[1]!.email, small.exam.id],
      [large.students[7]!.email, large.exam.id],
    ] as const) {
      const socket = await connectSocket(b.url, EXAM_NAMESPACE, tokens.get(email)!.token);
      live.push({ socket, started: await ok(socket, EXAM_EVENTS.start, { examId }) });
    }
    const [first, second] = live;
    const qs = first!.started.exam.sections.flatMap((s) => s.questions);
    for (let i = 0; i < 3; i++) {
      await ok(first!.socket, EXAM_EVENTS.answer, { attemptId: first!.started.attempt.id, questionId: qs[i]!.id, optionId: qs[i]!.options[0]!.id, seq: i + 1 });
    }
    // A cleared answer (optionId null) is not counted as answered.
    await ok(first!.socket, EXAM_EVENTS.answer, { attemptId: first!.started.attempt.id, questionId: qs[3]!.id, optionId: null, seq: 4 });
    await ok(second!.socket, EXAM_EVENTS.proctor, { attemptId: second!.started.attempt.id, type: 'visibility_hidden' });
    await ok(second!.socket, EXAM_EVENTS.proctor, { attemptId: second!.started.attempt.id, type: 'paste', detail: { chars: 12 } });
    // Not a flag.
    await ok(second!.socket, EXAM_EVENTS.proctor, { attemptId: second!.started.attempt.id, type: 'fullscreen_enter' });
    // Many attempts in the large class too (straight into the database): rows with and without attempts.
    await sql(
      a.databaseUrl,
      `insert into attempts (exam_id, student_id, status, started_at, deadline_at)
       select $1, id, 'in_progress', now(), now() + interval '10 minutes' from users where id = any($2::int[])`,
      [large.exam.id, large.students.slice(100, 180).map((s) => s.id)],
    );
    await a.app.audit.flush();
    await sleep(50);

    const s = await measuredRoster(a, small.exam.id);
    const l = await measuredRoster(a, large.exam.id);
    expect(s.statements.length).toBeLessThanOrEqual(2);
    expect(l.statements.length).toBeLessThanOrEqual(2);
    // Does not grow with the class: same statements for 5 and for 200 students.
    expect(l.statements.length).toBe(s.statements.length);

    // Every enrolled student, exactly once, with the contract's fields.
    for (const [cls, { roster }] of [
      [small, s],
      [large, l],
    ] as const) {
      expect(roster.map((r) => r.student.id).sort((x, y) => x - y)).toEqual(cls.students.map((st) => st.id).sort((x, y) => x - y));
      for (const row of roster) {
        expect(Object.keys(row).sort()).toEqual(ROW_KEYS);
        expect(row.total).toBe(10);
        expect(row.student.name).toBe(cls.students.find((st) => st.id === row.student.id)!.name);
        expect(row.extraTimeSeconds).toBe(0);
      }
    }
    const small0 = s.roster.find((r) => r.student.id === small.students[0]!.id)!;
    expect(small0).toMatchObject({ attemptId: first!.started.attempt.id, status: 'in_progress', answered: 3, flags: 0 });
    expect(small0.deadlineAt).toBe(first!.started.attempt.deadlineAt);
    expect(small0.remainingMs).toBeGreaterThan(500_000);
    expect(small0.remainingMs).toBeLessThanOrEqual(600_000);
    expect(s.roster.find((r) => r.student.id === small.students[1]!.id)).toMatchObject({ status: 'in_progress', answered: 0, flags: 2 });
    for (const st of small.students.slice(2)) {
      expect(s.roster.find((r) => r.student.id === st.id)).toEqual({
        attemptId: null,
        student: { id: st.id, name: st.name },
        status: 'not_started',
        connected: false,
        answered: 0,
        total: 10,
        deadlineAt: null,
        remainingMs: null,
        flags: 0,
        extraTimeSeconds: 0,
      });
    }
    expect(l.roster.filter((r) => r.status === 'in_progress')).toHaveLength(81);
    expect(l.roster.filter((r) => r.status === 'not_started' && r.attemptId === null)).toHaveLength(119);

    // Through the socket (on the node where the students are not): the same roster, `connected` from presence.
    const inv = await connectSocket(a.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    const { result, statements } = await a.app.queries.record(() => ok(inv, INVIGILATOR_EVENTS.watch, { examId: large.exam.id }));
    expect(statements.filter((st) => !isTransactionControl(st)).length).toBeLessThanOrEqual(2);
    expect(result.roster).toHaveLength(200);
    const connected = result.roster.filter((r) => r.connected).map((r) => r.student.id);
    expect(connected).toEqual([large.students[7]!.id]);
    const small2 = await ok(inv, INVIGILATOR_EVENTS.watch, { examId: small.exam.id });
    expect(small2.roster.filter((r) => r.connected).map((r) => r.student.id).sort((x, y) => x - y)).toEqual(
      [small.students[0]!.id, small.students[1]!.id].sort((x, y) => x - y),
    );
  });
});

describe('live progress', () => {
  it('coalesces one student answering 20 questions into ~1 roster:update per second, ending at 20 answered', async () => {
    const cls = await classOf(1, 20);
    const [st] = cls.students;
    const inv = await connectSocket(a.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    await ok(inv, INVIGILATOR_EVENTS.watch, { examId: cls.exam.id });
    const rows = collectRoster(inv);
    const socket = await connectSocket(b.url, EXAM_NAMESPACE, (await tokensFor(b, [st!.email])).get(st!.email)!.token);
    const started = await ok(socket, EXAM_EVENTS.start, { examId: cls.exam.id });
    const attemptId = started.attempt.id;
    const qs = started.exam.sections.flatMap((s) => s.questions);
    expect(qs).toHaveLength(20);

    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      await ok(socket, EXAM_EVENTS.answer, { attemptId, questionId: qs[i]!.id, optionId: qs[i]!.options[1]!.id, seq: i + 1 });
      await sleep(100);
    }
    const elapsed = Date.now() - t0;
    await waitFor('answered 20 on the roster', () => rows.some((r) => r.payload.attemptId === attemptId && r.payload.answered === 20), 5000);
    const progress = rows.filter((r) => r.payload.attemptId === attemptId && r.payload.answered !== undefined);
    // 20 answers over ~2 s: one update per second (plus the last one), never a burst.
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 2);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const r of progress) {
      const inWindow = progress.filter((o) => o.at >= r.at && o.at < r.at + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(2);
    }
    const counts = progress.map((r) => r.payload.answered!);
    expect(counts).toEqual([...counts].sort((x, y) => x - y));
    expect(counts.at(-1)).toBe(20);
    await sleep(1200);
    // Nothing after the last answer's update.
    expect(rows.filter((r) => r.payload.attemptId === attemptId && r.payload.answered !== undefined)).toHaveLength(progress.length);
  });
});
