import { stripVTControlCharacters } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { User } from '../entities/user.js';
import type { AuthUser } from './auth/guard.js';
import { TokenService } from './auth/tokens.js';
import { createRedis } from './cache/redis.js';
import type { Config } from './config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './db/embedded.js';
import { openDatabase } from './db/orm.js';
import { QueryCounter } from './db/query-counter.js';
import { seedDemo } from './exam/demo-data.js';
import { authRoutes } from './http/auth-routes.js';
import { registerErrorHandling } from './http/errors.js';
import { examRoutes } from './http/exam-routes.js';
import { opsRoutes } from './http/ops-routes.js';
import { registerValidation } from './http/validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    orm: MikroORM;
    queries: QueryCounter;
    tokens: TokenService;
    /** Null when `REDIS_URL` is unset (single node, in-process cache). */
    redis: Redis | null;
    metrics: Registry;
    /** 'postgres' for `DATABASE_URL`, 'embedded' for PGlite. */
    databaseMode: 'postgres' | 'embedded';
  }
  interface FastifyRequest {
    /** A fresh EntityManager fork: one unit of work per request. */
    em: EntityManager;
    /** Set by the `requireRole` guard. */
    user: AuthUser | null;
  }
}

export type App = FastifyInstance;

/** Long enough for an exam of 1,000 questions in one authoring body; socket messages have their own, far smaller, limit. */
const BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Builds a ready, not yet listening server: database (migrated), Redis, routes. Used by `main.ts`, the
 * tests and the benchmarks alike. `app.close()` releases everything it opened.
 */
export async function buildApp(config: Config): Promise<App> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'body.password', 'password', 'token'],
        censor: '[redacted]',
      },
    },
    requestIdHeader: 'x-request-id',
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // MikroORM's messages (colour codes stripped) into the structured log.
  const ormLog = (message: string) => app.log.info({ orm: true }, stripVTControlCharacters(message));
  let embedded: EmbeddedDatabase | undefined;
  let orm: MikroORM | undefined;
  let redis: Redis | null = null;
  try {
    if (config.databaseUrl) {
      orm = await openDatabase({ clientUrl: config.databaseUrl, pool: config.dbPool, log: ormLog });
    } else {
      embedded = await startEmbeddedDatabase(config.dataDir);
      // One connection: PGlite serves one at a time (see db/embedded.ts).
      orm = await openDatabase({ clientUrl: embedded.url, pool: { min: 1, max: 1, idleTimeoutMs: 3_600_000 }, log: ormLog });
    }
    if (config.redisUrl) redis = createRedis(config.redisUrl, app.log, 'cache');
  } catch (err) {
    await orm?.close(true);
    await embedded?.stop();
    throw err;
  }

  app.decorate('config', config);
  app.decorate('orm', orm);
  app.decorate('databaseMode', embedded ? 'embedded' : 'postgres');
  app.decorate('queries', new QueryCounter(orm));
  app.decorate('tokens', new TokenService(config.jwtSecret, config.jwtTtlSeconds));
  app.decorate('redis', redis);
  app.decorateRequest('em', null as unknown as EntityManager);
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (request) => {
    request.em = orm.em.fork();
  });

  app.addHook('onClose', async () => {
    await orm.close();
    await redis?.quit().catch(() => redis?.disconnect());
    await embedded?.stop();
  });

  registerValidation(app);
  registerErrorHandling(app);
  await app.register(opsRoutes);
  await app.register(authRoutes);
  await app.register(examRoutes);

  if (config.seedOnStart && (await orm.em.fork().count(User)) === 0) {
    const result = await seedDemo(orm.em.fork(), { students: config.seedStudents, password: config.demoPassword });
    app.log.info(result, 'seeded the demo data (empty database)');
  }

  await app.ready();
  return app;
}
