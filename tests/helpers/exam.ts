import { randomBytes } from 'node:crypto';
import type { App } from '../../server/app.js';
import { User, type Role } from '../../entities/user.js';
import { hashPassword } from '../../server/auth/passwords.js';
import type { ExamAdminView } from '../../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, type AttemptStartResult, type CreateExamBody } from '../../server/protocol.js';
import { bearer } from './app.js';
import { connectSocket, ok, type StudentSocket } from './sockets.js';

/** A user made for a test, with a token issued by the app (no login round trip, no scrypt per user). */
export interface TestUser {
  id: number;
  email: string;
  name: string;
  role: Role;
  token: string;
  headers: Record<string, string>;
}

let sharedHash: Promise<string> | undefined;

/**
 * Creates `n` users of `role` directly in the app's database (one flush) and issues their tokens with the
 * app's own token service. The password of each is `demo1234`. E-mails are unique per call.
 */
export async function createUsers(app: App, n: number, role: Role = 'student'): Promise<TestUser[]> {
  sharedHash ??= hashPassword('demo1234');
  const passwordHash = await sharedHash;
  const tag = randomBytes(4).toString('hex');
  const em = app.orm.em.fork();
  const users = Array.from({ length: n }, (_, i) =>
    em.create(User, { email: `${role}-${tag}-${i + 1}@example.com`, name: `${role} ${tag} ${i + 1}`, role, passwordHash, createdAt: new Date() }),
  );
  await em.flush();
  return users.map((u) => {
    const token = app.tokens.issue({ sub: u.id, role: u.role, name: u.name });
    return { id: u.id, email: u.email, name: u.name, role: u.role, token, headers: bearer(token) };
  });
}

export interface ExamSetup {
  /** Publish it (default true). */
  publish?: boolean;
  /** Students to enroll, by user or with extra time. */
  enroll?: (TestUser | { email: string; extraTimeSeconds?: number })[];
}

/** Creates an exam through the real admin routes (POST, publish, PUT enrollments) and returns its admin view (with the key). */
export async function createExam(app: App, admin: TestUser, body: CreateExamBody, setup: ExamSetup = {}): Promise<ExamAdminView> {
  const created = await app.inject({ method: 'POST', url: '/api/exams', headers: admin.headers, payload: body });
  if (created.statusCode !== 201) throw new Error(`create exam: ${created.statusCode} ${created.body}`);
  const exam = created.json<ExamAdminView>();
  if (setup.publish ?? true) {
    const res = await app.inject({ method: 'POST', url: `/api/exams/${exam.id}/publish`, headers: admin.headers });
    if (res.statusCode !== 200) throw new Error(`publish: ${res.statusCode} ${res.body}`);
    exam.isPublished = true;
  }
  if (setup.enroll?.length) {
    const enrollments = setup.enroll.map((e) => ({
      email: e.email,
      ...('extraTimeSeconds' in e && e.extraTimeSeconds !== undefined ? { extraTimeSeconds: e.extraTimeSeconds } : {}),
    }));
    const res = await app.inject({ method: 'PUT', url: `/api/exams/${exam.id}/enrollments`, headers: admin.headers, payload: { enrollments } });
    if (res.statusCode !== 200) throw new Error(`enroll: ${res.statusCode} ${res.body}`);
  }
  return exam;
}

/** Connects a student to `/exam` and starts (or resumes) the attempt. */
export async function startAttempt(
  url: string,
  student: Pick<TestUser, 'token'>,
  examId: number,
): Promise<{ socket: StudentSocket; started: AttemptStartResult }> {
  const socket = await connectSocket(url, EXAM_NAMESPACE, student.token);
  const started = await ok(socket, EXAM_EVENTS.start, { examId });
  return { socket, started };
}

/** Every question of a student view (or admin view), in the order sent. */
export function questionsOf<Q>(exam: { sections: { questions: Q[] }[] }): Q[] {
  return exam.sections.flatMap((s) => s.questions);
}

/** The correct option of every question of an admin view. */
export function keyOf(exam: ExamAdminView): Map<number, { correct: number; wrong: number[]; points: number }> {
  return new Map(
    questionsOf(exam).map((q) => [
      q.id,
      { correct: q.options.find((o) => o.isCorrect)!.id, wrong: q.options.filter((o) => !o.isCorrect).map((o) => o.id), points: q.points },
    ]),
  );
}

const KEY_NAMES = /^(iscorrect|is_correct|correct|correctoptionid|correct_option_id|answerkey|answer_key|key)$/i;

/** Paths of every property of `value` (deeply) whose name would carry the answer key. */
export function keyLeaks(value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = `${path}.${k}`;
    if (KEY_NAMES.test(k)) found.push(p);
    found.push(...keyLeaks(v, p));
  }
  return found;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (or fails after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/**
 * Waits until the app sent no SQL statement for `quietMs` (background work such as progress updates
 * for invigilators finished), so that a statement budget recorded next counts only its own work.
 */
export async function settle(app: App, quietMs = 150, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { statements } = await app.queries.record(() => sleep(quietMs));
    if (statements.length === 0) return;
    if (Date.now() > until) throw new Error(`still busy after ${timeoutMs} ms: ${statements.join('; ')}`);
  }
}
