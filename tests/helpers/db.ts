import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';

/** Where the tests find PostgreSQL and Redis (the README's prerequisites). */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function urlFor(database: string): string {
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const cleanups: (() => Promise<void>)[] = [];

/**
 * Runs `fn` once the calling test file's tests are done, the latest registered first. Unlike `afterAll`,
 * it may be called from inside `beforeAll` or a test: Vitest silently drops an `afterAll` registered
 * there. (This module is evaluated once per test file, so the hook below belongs to that file.)
 */
export function afterFile(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

afterAll(async () => {
  const errors: unknown[] = [];
  for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw errors[0];
});

/**
 * Creates an empty database for the calling test file and drops it after all its tests (the
 * MikroORM test-suite pattern: each file its own database, so files run in parallel).
 */
export async function createTestDatabase(): Promise<{ name: string; url: string }> {
  const name = `exam_test_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`create database "${name}"`));
  afterFile(async () => {
    await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
  });
  return { name, url: urlFor(name) };
}
