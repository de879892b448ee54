import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp, type TestAppOptions } from './app.js';
import { createTestDatabase } from './db.js';

/**
 * `n` nodes of the real server in this process (the Socket.IO redis-adapter tests' `setup()`): one
 * database, one Redis key prefix (so they share the question cache, presence and the adapter's
 * channels), each its own app, pools, Redis clients and port. All listen; all close after the file.
 */
export async function startCluster(n: number, opts: Omit<TestAppOptions, 'databaseUrl' | 'redis'> = {}): Promise<TestApp[]> {
  const { url } = await createTestDatabase();
  const prefix = `cluster-${randomBytes(4).toString('hex')}:`;
  const nodes: TestApp[] = [];
  // One at a time: the first applies the migrations, the others find none pending.
  for (let i = 0; i < n; i++) {
    const node = await createTestApp({ ...opts, databaseUrl: url, redis: { prefix } });
    await node.listen();
    nodes.push(node);
  }
  return nodes;
}
