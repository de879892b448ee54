/**
 * A scratch environment for a benchmark script: a new PostgreSQL database, a Redis key prefix and a
 * JWT secret of its own, one server node on them (`server/main.ts` as a child process, NODE_ENV
 * production), the load-test seed (students, one exam) — and, whatever happens, everything removed
 * again afterwards: node stopped, database dropped, keys deleted.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startNode, stopProcess, type ServerNode } from './nodes.js';
import { seedLoadTest, type Seeded } from './seed.js';

export const PG_URL = process.env.LOADTEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.LOADTEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ScratchOptions {
  /** Names the database and the key prefix (`exam_<name>_…`, `<name>-…:`). */
  name: string;
  students: number;
  questions: number;
  invigilators?: number;
  /** More server environment, over the defaults. */
  env?: Record<string, string>;
  /** More Node.js options for the node. */
  nodeArgs?: string[];
}

export interface Scratch {
  databaseUrl: string;
  secret: string;
  node: ServerNode | undefined;
  seeded: Seeded;
  /** Stops the node now (SIGTERM, drained); the clean-up then skips it. */
  stopNode(): Promise<void>;
}

/** `KEY=VALUE` strings (repeatable `--env` options) as an environment object. */
export const envPairs = (pairs: readonly string[]): Record<string, string> =>
  Object.fromEntries(pairs.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(sql).finally(() => c.end());
}

export async function withScratchServer<T>(opts: ScratchOptions, run: (s: Scratch) => Promise<T>): Promise<T> {
  const dbName = `exam_${opts.name}_${randomBytes(4).toString('hex')}`;
  const prefix = `${opts.name}-${randomBytes(3).toString('hex')}:`;
  const dbUrl = new URL(PG_URL);
  dbUrl.pathname = `/${dbName}`;
  const databaseUrl = dbUrl.toString();
  const secret = randomBytes(32).toString('base64url');
  await admin(`create database "${dbName}"`);
  let node: ServerNode | undefined;
  try {
    node = await startNode(0, {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      JWT_SECRET: secret,
      LOG_LEVEL: 'warn',
      ...opts.env,
    }, opts.nodeArgs);
    const seeded = await seedLoadTest(databaseUrl, node.url, {
      students: opts.students,
      invigilators: opts.invigilators ?? 0,
      questions: opts.questions,
      durationSeconds: 7200,
    });
    const scratch: Scratch = {
      databaseUrl,
      secret,
      seeded,
      get node() {
        return node;
      },
      async stopNode() {
        if (node) await stopProcess(node.process);
        node = undefined;
      },
    };
    return await run(scratch);
  } finally {
    if (node) await stopProcess(node.process);
    await admin(`drop database if exists "${dbName}" with (force)`);
    const { deleteKeysWithPrefix } = await import('../server/cache/redis.js');
    await deleteKeysWithPrefix(REDIS_URL, prefix).catch(() => {});
  }
}
