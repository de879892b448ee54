/**
 * `npm start` and the load tests run the server with the same Node.js options (the young generation's
 * size among them: memory per connected student is measured with them, docs/benchmarks.md).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_OPTIONS } from '../loadtest/nodes.js';

const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('npm start', () => {
  it('starts server/main.ts with the Node.js options the load tests measure', () => {
    expect(pkg.scripts.start).toBe(`node ${SERVER_NODE_OPTIONS.join(' ')} --import tsx server/main.ts`);
    expect(SERVER_NODE_OPTIONS).toContain('--max-semi-space-size=8');
  });
});
