import { describe, expect, it } from 'vitest';
import { bearer, createTestApp, loginAs, seed } from './helpers/app.js';

describe('smoke', () => {
  it('boots on a fresh database, logs in and lists the demo exam', async () => {
    const { app } = await createTestApp();
    await seed(app);
    const token = await loginAs(app, 'student1@example.com');
    const res = await app.inject({ url: '/api/exams', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
    expect(res.json().exams.map((e: { title: string }) => e.title)).toEqual(['Demo exam']);
  });
});
