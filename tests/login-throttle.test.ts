import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, seed, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await seed(t.app, 2);
});

const attempt = (email: string, password: string) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } });

describe('login throttle', () => {
  it('refuses an account after 10 failed logins, with a retry hint, while other accounts still log in', async () => {
    for (let i = 0; i < 10; i++) expect((await attempt('student1@example.com', 'wrong')).statusCode).toBe(401);
    const limited = await attempt('Student1@example.com', 'demo1234');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect(limited.json().error.retryAfterMs).toBeGreaterThan(0);
    expect(limited.headers['retry-after']).toBeDefined();
    expect((await attempt('student2@example.com', 'demo1234')).statusCode).toBe(200);
  });

  it('a success resets the count', async () => {
    for (let i = 0; i < 9; i++) await attempt('student2@example.com', 'wrong');
    expect((await attempt('student2@example.com', 'demo1234')).statusCode).toBe(200);
    for (let i = 0; i < 9; i++) await attempt('student2@example.com', 'wrong');
    expect((await attempt('student2@example.com', 'demo1234')).statusCode).toBe(200);
  });
});
