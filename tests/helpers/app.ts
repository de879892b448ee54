import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../../server/app.js';
import { deleteKeysWithPrefix } from '../../server/cache/redis.js';
import { loadConfig, type Config } from '../../server/config.js';
import { seedDemo, type SeedResult } from '../../server/exam/demo-data.js';
import type { CreateExamBody } from '../../server/protocol.js';
import { TEST_REDIS_URL, afterFile, createTestDatabase } from './db.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A config for tests: its own database, quiet logs, no auto-seed; `env` overrides any variable. */
export function testConfig(databaseUrl: string, env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'warn',
    SEED_ON_START: 'false',
    DB_POOL_MIN: '0',
    DB_POOL_MAX: '5',
    HOST: '127.0.0.1',
    PORT: '0',
    // Tests open many sockets per user (one per case, closed after the file); the cap has its own test.
    SOCKETS_PER_USER: '100',
    ...env,
  });
}

export interface TestApp {
  app: App;
  config: Config;
  /** Base URL once `listen()` was called. */
  url: string;
  databaseUrl: string;
  listen(): Promise<string>;
}

export interface TestAppOptions {
  env?: Record<string, string | undefined>;
  /** Use this database instead of a new one (several nodes on one database). */
  databaseUrl?: string;
  /** Connect to the test Redis with a key prefix of this test's own. @default false */
  redis?: boolean | { prefix: string };
}

/** Builds the real app on a fresh database (migrated by the app itself) and closes it after the file (from any hook or test). */
export async function createTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const databaseUrl = opts.databaseUrl ?? (await createTestDatabase()).url;
  const redisEnv =
    opts.redis === undefined || opts.redis === false
      ? {}
      : {
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: typeof opts.redis === 'object' ? opts.redis.prefix : `test-${randomBytes(4).toString('hex')}:`,
        };
  const config = testConfig(databaseUrl, { ...redisEnv, ...opts.env });
  const app = await buildApp(config);
  const t: TestApp = {
    app,
    config,
    url: '',
    databaseUrl,
    async listen() {
      await app.listen({ port: 0, host: '127.0.0.1' });
      t.url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      return t.url;
    },
  };
  afterFile(async () => {
    await app.close();
    // Leave the shared Redis as we found it: every key of this test's prefix goes (presence hashes have no TTL).
    if (config.redisUrl) await deleteKeysWithPrefix(config.redisUrl, config.redisKeyPrefix);
  });
  return t;
}

/** Seeds the demo data into the app's database. */
export async function seed(app: App, students = 5, password = 'demo1234'): Promise<SeedResult> {
  return seedDemo(app.orm.em.fork(), { students, password });
}

/** Logs in through the real route and returns the token. */
export async function loginAs(app: App, email: string, password = 'demo1234'): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login ${email} failed: ${res.statusCode} ${res.body}`);
  return res.json<{ token: string }>().token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An exam body with `questions` questions spread over `sections` sections (first option correct). */
export function examBody(questions: number, sections = 2, extra: Partial<CreateExamBody> = {}): CreateExamBody {
  const per = Math.ceil(questions / sections);
  let made = 0;
  return {
    title: `Exam of ${questions}`,
    durationSeconds: 600,
    sections: Array.from({ length: sections }, (_, s) => {
      const n = Math.min(per, questions - made);
      made += n;
      return {
        title: `Section ${s + 1}`,
        questions: Array.from({ length: n }, (_, q) => ({
          text: `Question ${s + 1}.${q + 1}`,
          points: 1 + (q % 3),
          options: [
            { text: 'right', isCorrect: true },
            { text: 'wrong A', isCorrect: false },
            { text: 'wrong B', isCorrect: false },
          ],
        })),
      };
    }).filter((s) => s.questions.length > 0),
    ...extra,
  };
}
