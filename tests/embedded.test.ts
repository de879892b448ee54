import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { bearer, loginAs } from './helpers/app.js';

describe('embedded default (no DATABASE_URL)', () => {
  it('boots PGlite, migrates, seeds the demo data and serves it', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'exam-embedded-'));
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'warn', SEED_STUDENTS: '3' });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.seedOnStart).toBe(true);
    const app = await buildApp(config);
    try {
      expect(app.databaseMode).toBe('embedded');

      const token = await loginAs(app, 'student1@example.com', 'demo1234');
      const list = await app.inject({ url: '/api/exams', headers: bearer(token) });
      expect(list.statusCode).toBe(200);
      expect(list.json().exams.map((e: { title: string }) => e.title)).toEqual(['Demo exam']);
      // SEED_STUDENTS=3: the fourth student does not exist.
      const fourth = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'student4@example.com', password: 'demo1234' } });
      expect(fourth.statusCode).toBe(401);

      const health = await app.inject({ url: '/healthz' });
      expect(health.statusCode).toBe(200);
      const ready = await app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json().checks).toEqual({ database: 'ok', redis: 'not_configured', fanout: 'not_configured' });
      const metrics = await app.inject({ url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toMatch(/^db_pool_connections\{state="used"\} \d+$/m);
      expect(metrics.body).toMatch(/^http_request_duration_seconds_count\{.*route="\/api\/exams".*\} \d+$/m);
    } finally {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
