/**
 * Password guessing is slowed, never turned into a lock-out: after a few failures each attempt for the
 * account (and, past a generous allowance, from the address) must wait a little longer, the right
 * password is taken as soon as the wait is over, and every node sees the same counts (Redis).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_RULE, ADDRESS_RULE, LoginThrottle } from '../server/auth/login-throttle.js';
import { deleteKeysWithPrefix } from '../server/cache/redis.js';
import { AppError } from '../server/errors.js';
import { seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { TEST_REDIS_URL } from './helpers/db.js';
import { sleep } from './helpers/exam.js';

let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  await seed(a.app, 4);
});

const attempt = (node: TestApp, email: string, password: string, remoteAddress = '127.0.0.1') =>
  node.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password }, remoteAddress });

describe('login throttle', () => {
  it('slows an account after a few failures and lets its owner in once the short wait is over', async () => {
    for (let i = 0; i < ACCOUNT_RULE.free; i++) expect((await attempt(a, 'student1@example.com', 'wrong')).statusCode).toBe(401);
    const limited = await attempt(a, 'Student1@example.com', 'demo1234');
    expect(limited.statusCode).toBe(429);
    const { retryAfterMs } = limited.json().error as { code: string; retryAfterMs: number };
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(ACCOUNT_RULE.firstMs);
    expect(limited.headers['retry-after']).toBeDefined();
    // Other accounts are not affected.
    expect((await attempt(a, 'student2@example.com', 'demo1234')).statusCode).toBe(200);

    await sleep(retryAfterMs + 50);
    expect((await attempt(a, 'student1@example.com', 'demo1234')).statusCode).toBe(200);
    // The success started the account's count over.
    for (let i = 0; i < ACCOUNT_RULE.free; i++) expect((await attempt(a, 'student1@example.com', 'wrong')).statusCode).toBe(401);
  });

  it('makes each further failure wait longer (doubling)', async () => {
    for (let i = 0; i < ACCOUNT_RULE.free; i++) await attempt(a, 'student3@example.com', 'wrong');
    await sleep(ACCOUNT_RULE.firstMs + 50);
    expect((await attempt(a, 'student3@example.com', 'wrong')).statusCode).toBe(401);
    const next = await attempt(a, 'student3@example.com', 'demo1234');
    expect(next.statusCode).toBe(429);
    expect(next.json().error.retryAfterMs).toBeGreaterThan(ACCOUNT_RULE.firstMs);
    expect(next.json().error.retryAfterMs).toBeLessThanOrEqual(2 * ACCOUNT_RULE.firstMs);
  });

  it('is shared by every node: failures on one node slow the account on the other', async () => {
    for (let i = 0; i < ACCOUNT_RULE.free; i++) expect((await attempt(a, 'student4@example.com', 'wrong')).statusCode).toBe(401);
    expect((await attempt(b, 'student4@example.com', 'demo1234')).statusCode).toBe(429);
  });
});

describe('login throttle by address', () => {
  const prefix = `test-${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(TEST_REDIS_URL);
  afterAll(async () => {
    await deleteKeysWithPrefix(TEST_REDIS_URL, prefix);
    redis.disconnect();
  });

  it('slows an address that fails across many accounts, not the other addresses', async () => {
    const throttle = new LoginThrottle(redis, prefix);
    for (let i = 0; i < ADDRESS_RULE.free; i++) await throttle.failed(`stuffed${i}@example.com`, '10.9.9.9');
    const refused = await throttle.check('fresh@example.com', '10.9.9.9').then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('RATE_LIMITED');
    await expect(throttle.check('fresh@example.com', '10.9.9.10')).resolves.toBeUndefined();
    // A second throttle (another node) reads the same counts.
    await expect(new LoginThrottle(redis, prefix).check('fresh@example.com', '10.9.9.9')).rejects.toThrow(/Too many failed logins/);
  });
});
