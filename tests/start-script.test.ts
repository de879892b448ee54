/**
 * `npm start` and the load tests run the server with the same Node.js options (the young generation's
 * size among them: memory per connected student is measured with them, docs/benchmarks.md).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_OPTIONS, stopProcess } from '../loadtest/nodes.js';
import { LISTEN_BACKLOG } from '../server/serve.js';
import { startChildNode } from './helpers/child-node.js';
import { createTestDatabase } from './helpers/db.js';

const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('npm start', () => {
  it('starts server/main.ts with the Node.js options the load tests measure', () => {
    expect(pkg.scripts.start).toBe(`node ${SERVER_NODE_OPTIONS.join(' ')} --import tsx server/main.ts`);
    expect(SERVER_NODE_OPTIONS).toContain('--max-semi-space-size=8');
  });
});

describe("the server's listening socket", () => {
  it('has an accept queue of 4096 (capped by the kernel), not Node.js\'s 511', async () => {
    const { url } = await createTestDatabase();
    const node = await startChildNode({ databaseUrl: url, redisPrefix: `start-script-${process.pid}:` });
    try {
      const port = new URL(node.url).port;
      // `ss` shows a listening socket's backlog as its Send-Q.
      const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
      const backlog = Number(line.split(/\s+/)[2]);
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      expect(LISTEN_BACKLOG).toBe(4096);
      expect(backlog).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    } finally {
      await stopProcess(node.process);
    }
  }, 60_000);
});

