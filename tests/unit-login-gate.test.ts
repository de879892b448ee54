import { describe, expect, it } from 'vitest';
import { LoginGate } from '../server/auth/login-gate.js';
import { AppError } from '../server/errors.js';

const later = () => {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
};

describe('LoginGate', () => {
  it('runs at most `concurrency` logins at once and admits the waiting ones in arrival order', async () => {
    const gate = new LoginGate(2, 10);
    const steps = Array.from({ length: 5 }, later);
    const started: number[] = [];
    const done = steps.map((s, i) =>
      gate.run(async () => {
        started.push(i);
        await s.promise;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    steps[1]!.release();
    await done[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const s of steps) s.release();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses beyond the queue with RATE_LIMITED and a retry hint, and frees its slot when a login fails', async () => {
    const gate = new LoginGate(1, 1);
    const first = later();
    const running = gate.run(() => first.promise);
    const queued = gate.run(async () => 'queued');
    const refused = await gate.run(async () => 'never').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('RATE_LIMITED');
    expect((refused as AppError).extra.retryAfterMs).toBeGreaterThan(0);
    first.release();
    await running;
    expect(await queued).toBe('queued');
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(async () => 'after a failure')).toBe('after a failure');
  });
});
