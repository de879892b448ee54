import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, loginAs } from './helpers/app.js';
import { createTestDatabase } from './helpers/db.js';
import { countRows, sql } from './helpers/pg.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

/** `npm run seed` (= `tsx server/cli/seed.ts`) as its own process, against `databaseUrl`. */
async function seedCli(databaseUrl: string): Promise<Record<string, unknown>> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (/^(DATABASE_URL|REDIS_URL|JWT_SECRET|DEMO_PASSWORD|SEED_|DATA_DIR)/.test(k)) delete env[k];
  const { stdout } = await run(TSX, ['server/cli/seed.ts'], {
    cwd: ROOT,
    env: { ...env, DATABASE_URL: databaseUrl, SEED_STUDENTS: '5', NODE_ENV: 'test' },
    timeout: 60_000,
  });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

describe('npm run seed', () => {
  let db: string;
  const outputs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    db = (await createTestDatabase()).url;
    outputs.push(await seedCli(db));
    outputs.push(await seedCli(db));
  }, 90_000);

  it('reports creating everything the first time and nothing the second', () => {
    expect(outputs[0]).toMatchObject({ usersCreated: 7, examCreated: true, enrollmentsCreated: 5 });
    expect(outputs[1]).toMatchObject({ usersCreated: 0, examCreated: false, enrollmentsCreated: 0, examId: outputs[0]!.examId });
  });

  it('leaves one copy of everything after two runs', async () => {
    expect(await countRows(db, 'users')).toBe(7);
    expect(await countRows(db, `users where role = 'admin' and email = 'admin@example.com'`)).toBe(1);
    expect(await countRows(db, `users where role = 'invigilator' and email = 'invigilator@example.com'`)).toBe(1);
    expect(await countRows(db, `users where role = 'student' and email ~ '^student[1-5]@example\\.com$'`)).toBe(5);
    expect(await countRows(db, `exams where title = 'Demo exam'`)).toBe(1);
    expect(await countRows(db, 'exams')).toBe(1);
    expect(await countRows(db, 'enrollments')).toBe(5);
    expect(await countRows(db, 'exam_invigilators')).toBe(1);
  });

  it('makes a published demo exam of 20+ questions in 2+ sections, each with one correct option', async () => {
    const [exam] = await sql<{ id: number; is_published: boolean; sections: number; questions: number }>(
      db,
      `select e.id, e.is_published,
              (select count(*)::int from sections s where s.exam_id = e.id) as sections,
              (select count(*)::int from questions q join sections s on s.id = q.section_id where s.exam_id = e.id) as questions
         from exams e where e.title = 'Demo exam'`,
    );
    expect(exam!.is_published).toBe(true);
    expect(exam!.sections).toBeGreaterThanOrEqual(2);
    expect(exam!.questions).toBeGreaterThanOrEqual(20);
    const badQuestions = await countRows(
      db,
      `questions q where (select count(*) from options o where o.question_id = q.id and o.is_correct) <> 1`,
    );
    expect(badQuestions).toBe(0);
  });

  it('lets the demo users in with the demo password', async () => {
    const { app } = await createTestApp({ databaseUrl: db });
    const token = await loginAs(app, 'student3@example.com', 'demo1234');
    const res = await app.inject({ url: '/api/exams', headers: bearer(token) });
    expect(res.json().exams.map((e: { title: string }) => e.title)).toEqual(['Demo exam']);
    await loginAs(app, 'admin@example.com', 'demo1234');
    await expect(loginAs(app, 'admin@example.com', 'wrong-password')).rejects.toThrow(/401/);
  });
});
