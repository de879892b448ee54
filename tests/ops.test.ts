import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase } from './helpers/db.js';

describe('health, readiness and metrics (PostgreSQL)', () => {
  let plain: TestApp;
  let db: string;

  beforeAll(async () => {
    db = (await createTestDatabase()).url;
    plain = await createTestApp({ databaseUrl: db });
  });

  it('GET /healthz answers 200', async () => {
    const res = await plain.app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is ready without Redis configured', async () => {
    const res = await plain.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'not_configured', fanout: 'not_configured' } });
  });

  it('GET /readyz answers 503 with redis down when Redis does not answer', async () => {
    const broken = await createTestApp({ databaseUrl: db, env: { REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'error' } });
    const started = Date.now();
    const res = await broken.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', checks: { database: 'ok', redis: 'down', fanout: 'down' } });
    // A readiness probe must answer within a typical probe timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('GET /readyz answers 200 with the real Redis', async () => {
    const withRedis = await createTestApp({ databaseUrl: db, redis: true });
    const res = await withRedis.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok', fanout: 'ok' } });
  });

  it('GET /metrics exports the pool, the statement count and the duration of every route', async () => {
    const { app } = plain;
    expect((await app.inject({ url: '/api/exams' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/no/such/route/123' })).statusCode).toBe(404);
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^db_pool_connections\{state="free"\} \d+$/m);
    expect(res.body).toMatch(/^db_statements_total [1-9]\d*$/m);
    // The timing hook covers the app's routes, not only the ops plugin's own.
    expect(res.body).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/api\/exams",status="401"\} 1$/m);
    // Unknown URLs share one label instead of one series per URL.
    expect(res.body).toMatch(/^http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1$/m);
    expect(res.body).not.toContain('/no/such/route');
    expect(app.metrics).toBeDefined();
  });
});
