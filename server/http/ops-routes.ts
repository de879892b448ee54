import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { EXAM_NAMESPACE, INVIGILATOR_NAMESPACE } from '../protocol.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { pingDatabase, poolCounts } from '../db/health.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This process's Prometheus registry (`GET /metrics`). */
    metrics: Registry;
  }
}


/**
 * `GET /healthz` (the process is up), `GET /readyz` (DB and Redis answer), `GET /metrics` (Prometheus).
 * Not encapsulated (fastify-plugin): its `onResponse` hook must time every route of the app, not only
 * its own, and `app.metrics` must be visible on the root instance.
 */
const ops: FastifyPluginAsync = async (app) => {
  const registry = new Registry();
  app.decorate('metrics', registry);
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const pool = () => poolCounts(app.orm);
  new Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const p = await pool();
      this.set({ state: 'used' }, p.totalCount - p.idleCount);
      this.set({ state: 'free' }, p.idleCount);
      this.set({ state: 'pending_acquires' }, p.waitingCount);
    },
  });
  new Counter({
    name: 'db_statements_total',
    help: 'SQL statements sent by this process',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(app.queries.total);
    },
  });

  // The live exam, read at scrape time from this node's services.
  new Gauge({
    name: 'answers_pending',
    help: 'Answers buffered or being written on this node (acks not yet sent)',
    registers: [registry],
    collect() {
      this.set(app.answers.pending);
    },
  });
  new Gauge({
    name: 'sockets_connected',
    help: 'Socket.IO connections on this node by namespace',
    labelNames: ['namespace'] as const,
    registers: [registry],
    collect() {
      for (const ns of [EXAM_NAMESPACE, INVIGILATOR_NAMESPACE]) this.set({ namespace: ns }, app.io.of(ns).sockets.size);
    },
  });
  new Gauge({
    name: 'feed_connections',
    help: 'Plain-WebSocket feed connections on this node',
    registers: [registry],
    collect() {
      this.set(app.feeds.size);
    },
  });
  new Counter({
    name: 'question_cache_lookups_total',
    help: 'Question-set lookups by where they were answered: local (in process), redis, database',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      const stats = app.questions.stats;
      this.reset();
      this.inc({ source: 'local' }, stats.localHits);
      this.inc({ source: 'redis' }, stats.redisHits);
      this.inc({ source: 'database' }, stats.dbLoads);
    },
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, 'ok' | 'down' | 'not_configured'> = {
      database: 'down',
      redis: 'not_configured',
      fanout: 'not_configured',
    };
    try {
      await pingDatabase(app.orm);
      checks.database = 'ok';
    } catch (err) {
      app.log.warn({ err }, 'readiness: database unreachable');
    }
    if (app.redis) {
      checks.redis = 'down';
      try {
        if ((await app.redis.ping()) === 'PONG') checks.redis = 'ok';
      } catch (err) {
        app.log.warn({ err }, 'readiness: redis unreachable');
      }
    }
    // A subscriber that never came back after a network error: this node would miss other nodes' events.
    const fanout = app.fanout;
    if (fanout) checks.fanout = fanout.healthy() ? 'ok' : 'down';
    const ready = checks.database === 'ok' && checks.redis !== 'down' && checks.fanout !== 'down';
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
};

export const opsRoutes = fp(ops, { name: 'ops-routes' });
