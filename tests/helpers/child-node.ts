import type { ChildProcess } from 'node:child_process';
import { startNode, type ServerNode } from '../../loadtest/nodes.js';
import { TEST_JWT_SECRET } from './app.js';
import { TEST_REDIS_URL, afterFile } from './db.js';

export interface ChildNodeOptions {
  databaseUrl: string;
  /** Redis key prefix shared with the file's other nodes (each file picks its own). */
  redisPrefix: string;
  /** @default TEST_REDIS_URL */
  redisUrl?: string;
  /** More environment (any server variable), over the defaults below. */
  env?: Record<string, string>;
  /** Node options before `--import tsx` (for example another `--import` preload). */
  nodeArgs?: string[];
}

/**
 * `npm start`'s server as a real child process (`node --import tsx server/main.ts`, not the `tsx`
 * wrapper: a signal must reach the server itself), on a free loopback port, with the test secret and
 * quiet logs; ready once `/readyz` says so. A fault test kills it with `node.process.kill(...)`; any
 * node still alive when the file ends is killed then (a live child would keep the run waiting).
 */
export async function startChildNode(opts: ChildNodeOptions): Promise<ServerNode> {
  const node = await startNode(
    0,
    {
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
      NODE_ENV: 'test',
      DATABASE_URL: opts.databaseUrl,
      REDIS_URL: opts.redisUrl ?? TEST_REDIS_URL,
      REDIS_KEY_PREFIX: opts.redisPrefix,
      JWT_SECRET: TEST_JWT_SECRET,
      SEED_ON_START: 'false',
      LOG_LEVEL: 'warn',
      SOCKETS_PER_USER: '100',
      ...opts.env,
    },
    opts.nodeArgs,
  );
  afterFile(async () => killIfAlive(node.process));
  return node;
}

export function killIfAlive(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
