/**
 * Seeding for a load test, fast: the students in one `insert … select generate_series` with one shared
 * password hash (the same password for all of them, hashed once: N scrypt hashes would take minutes and
 * measure nothing; a login still verifies a full-cost hash), the exam through the real admin routes,
 * enrollments and invigilator assignments in one statement each.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { hashPassword } from '../server/auth/passwords.js';
import type { CreateExamBody } from '../server/protocol.js';
import type { SwarmStudent } from './swarm.js';

export const LOADTEST_PASSWORD = 'loadtest-password';
export const studentEmail = (n: number) => `load${n}@example.com`;
export const invigilatorEmail = (n: number) => `invigilator${n}@example.com`;

export interface Seeded {
  examId: number;
  questions: number;
  students: SwarmStudent[];
  invigilators: SwarmStudent[];
  seconds: number;
}

export function examBody(questions: number, durationSeconds: number): CreateExamBody {
  const sections = Math.max(1, Math.min(4, Math.ceil(questions / 10)));
  return {
    title: 'Load test exam',
    durationSeconds,
    sections: Array.from({ length: sections }, (_, s) => ({
      title: `Section ${s + 1}`,
      questions: Array.from({ length: Math.ceil(questions / sections) }, (_, q) => ({
        text: `Question ${s + 1}.${q + 1}: which option is the first one?`,
        points: 1,
        options: [0, 1, 2, 3].map((o) => ({ text: `Option ${o + 1}`, isCorrect: o === 0 })),
      })),
    })),
  };
}

async function api<T>(url: string, method: string, path: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Seeds a migrated, empty database through `nodeUrl` (a running node on it). */
export async function seedLoadTest(
  databaseUrl: string,
  nodeUrl: string,
  opts: { students: number; invigilators: number; questions: number; durationSeconds: number },
): Promise<Seeded> {
  const t0 = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const hash = await hashPassword(LOADTEST_PASSWORD);
    const adminPassword = randomBytes(12).toString('hex');
    await client.query(
      `insert into users (email, name, role, password_hash, created_at) values ('loadtest-admin@example.com', 'Load Admin', 'admin', $1, now())`,
      [await hashPassword(adminPassword)],
    );
    await client.query(
      `insert into users (email, name, role, password_hash, created_at)
       select 'load' || g || '@example.com', 'Load ' || g, 'student', $1, now() from generate_series(1, $2::int) g`,
      [hash, opts.students],
    );
    await client.query(
      `insert into users (email, name, role, password_hash, created_at)
       select 'invigilator' || g || '@example.com', 'Invigilator ' || g, 'invigilator', $1, now() from generate_series(1, $2::int) g`,
      [hash, opts.invigilators],
    );
    const { token } = await api<{ token: string }>(nodeUrl, 'POST', '/api/auth/login', {
      email: 'loadtest-admin@example.com',
      password: adminPassword,
    });
    const { id: examId } = await api<{ id: number }>(nodeUrl, 'POST', '/api/exams', examBody(opts.questions, opts.durationSeconds), token);
    await api(nodeUrl, 'POST', `/api/exams/${examId}/publish`, {}, token);
    await client.query(
      `insert into enrollments (exam_id, student_id, extra_time_seconds) select $1, id, 0 from users where role = 'student'`,
      [examId],
    );
    await client.query(`insert into exam_invigilators (exam_id, invigilator_id) select $1, id from users where role = 'invigilator'`, [
      examId,
    ]);
    const rows = async (role: string) =>
      (await client.query<{ id: number; name: string }>(`select id, name from users where role = $1 order by id`, [role])).rows;
    return {
      examId,
      questions: opts.questions,
      students: await rows('student'),
      invigilators: await rows('invigilator'),
      seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    };
  } finally {
    await client.end();
  }
}

/** Every answer row of the database: the runner compares them with the swarm's ledger. */
export async function answerRows(databaseUrl: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ attempt_id: number; question_id: number; seq: number }>(
      'select attempt_id, question_id, seq from attempt_answers',
    );
    return new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r.seq]));
  } finally {
    await client.end();
  }
}
