import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildApp, type App } from '../server/app.js';
import { hashPassword } from '../server/auth/passwords.js';
import { loadConfig } from '../server/config.js';
import { createExam, setEnrollments } from '../server/exam/authoring.js';
import type { CreateExamBody } from '../server/protocol.js';

/** Where benchmarks find PostgreSQL (a scratch database is created and dropped) and Redis. */
export const BENCH_PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface BenchDb {
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDb> {
  const name = `exam_bench_${randomBytes(4).toString('hex')}`;
  await admin(`create database "${name}"`);
  const url = new URL(BENCH_PG_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists "${name}" with (force)`) };
}

export async function buildBenchApp(databaseUrl: string, env: Record<string, string> = {}): Promise<App> {
  return buildApp(
    loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL: BENCH_REDIS_URL,
      REDIS_KEY_PREFIX: `bench-${randomBytes(3).toString('hex')}:`,
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0000',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      DB_POOL_MAX: '10',
      ...env,
    }),
  );
}

/**
 * `students` students (one shared password hash: hashing thousands of scrypt passwords would dominate
 * the set-up and measure nothing of interest) and a published exam of `questions` questions with all
 * of them enrolled.
 */
export async function seedBench(app: App, students: number, questions: number): Promise<{ examId: number; studentIds: number[] }> {
  const em = app.orm.em.fork();
  const hash = await hashPassword('bench');
  await em.getConnection().execute(
    `insert into users (email, name, role, password_hash, created_at)
     select 'bench' || g || '@example.com', 'Bench ' || g, 'student', ?, now() from generate_series(1, ?) g`,
    [hash, students],
  );
  const body: CreateExamBody = {
    title: 'Bench exam',
    durationSeconds: 3 * 3600,
    sections: [0, 1].map((s) => ({
      title: `Section ${s + 1}`,
      questions: Array.from({ length: questions / 2 }, (_, q) => ({
        text: `Question ${s}.${q}`,
        points: 1,
        options: [0, 1, 2, 3].map((o) => ({ text: `Option ${o}`, isCorrect: o === 0 })),
      })),
    })),
  };
  const exam = await createExam(em, body);
  exam.isPublished = true;
  await em.flush();
  await setEnrollments(
    em,
    exam.id,
    Array.from({ length: students }, (_, i) => ({ email: `bench${i + 1}@example.com` })),
  );
  const ids = await em.getConnection().execute<{ id: number }[]>(`select id from users where role = 'student' order by id`);
  return { examId: exam.id, studentIds: ids.map((r) => r.id) };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** p50/p95/p99/max of latencies in ms (sorts in place), rounded to 0.01 ms. */
export function latencySummary(values: number[]): { p50: number; p95: number; p99: number; max: number } {
  const sorted = values.sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 50), 2),
    p95: round(percentile(sorted, 95), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted[sorted.length - 1] ?? NaN, 2),
  };
}

/**
 * Runs a load client (`file`, next to this one) in its own process, so it does not share the
 * server's event loop: sends it `job`, resolves with the one message it answers.
 */
export async function runClientProcess<Job, Result>(file: string, job: Job): Promise<Result> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    child.send(job as object);
    const [result] = (await once(child, 'message')) as [Result];
    return result;
  } finally {
    child.kill();
  }
}
