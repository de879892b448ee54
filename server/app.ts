import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { stripVTControlCharacters } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { User } from '../entities/user.js';
import type { AuthUser } from './auth/guard.js';
import { TokenService } from './auth/tokens.js';
import { closeRedis, createRedis, waitReady } from './cache/redis.js';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './db/embedded.js';
import { openDatabase } from './db/orm.js';
import { QueryCounter } from './db/query-counter.js';
import { seedDemo } from './exam/demo-data.js';
import { AnswerWriter } from './exam/answer-writer.js';
import { AttemptService } from './exam/attempts.js';
import { DbClock } from './exam/clock.js';
import { ProctorLog } from './exam/proctor-log.js';
import { loadQuestionSet } from './exam/question-set.js';
import { DeadlineSweeper } from './exam/sweeper.js';
import { QuestionCache } from './cache/question-cache.js';
import { AttemptClocks } from './realtime/attempt-clocks.js';
import { attachRedisAdapter, type RedisFanout } from './realtime/adapter.js';
import { ClusterBus } from './realtime/cluster-bus.js';
import { registerExamNamespace } from './realtime/exam-namespace.js';
import { FeedHub, registerFeedRoute } from './realtime/feed.js';
import { registerInvigilatorNamespace, type InvigilatorNamespace } from './realtime/invigilator-namespace.js';
import { EXAM_NAMESPACE, INVIGILATOR_NAMESPACE, SocketNotifier, TOPICS } from './realtime/notifier.js';
import { Presence } from './realtime/presence.js';
import { InvigilationService } from './exam/invigilation.js';
import { ProgressTracker } from './exam/progress.js';
import { createSocketServer, type ExamNamespace } from './realtime/socket-server.js';
import type { Server as SocketServer } from 'socket.io';
import { authRoutes } from './http/auth-routes.js';
import { registerErrorHandling } from './http/errors.js';
import { examRoutes } from './http/exam-routes.js';
import { opsRoutes } from './http/ops-routes.js';
import { resultRoutes } from './http/result-routes.js';
import { webRoutes } from './http/web-routes.js';
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
    io: SocketServer;
    services: Services;
  }
  interface FastifyRequest {
    /** A fresh EntityManager fork: one unit of work per request. */
    em: EntityManager;
    /** Set by the `requireRole` guard. */
    user: AuthUser | null;
  }
}

export type App = FastifyInstance;

/** The domain services of one node, shared by the socket handlers and the HTTP routes. */
export interface Services {
  clock: DbClock;
  questions: QuestionCache;
  answers: AnswerWriter;
  audit: ProctorLog;
  attempts: AttemptService;
  invigilation: InvigilationService;
  sweeper: DeadlineSweeper;
  clocks: AttemptClocks;
  presence: Presence;
  progress: ProgressTracker;
  feeds: FeedHub;
  /** The Redis adapter's clients; null on a single node without Redis. */
  fanout: RedisFanout | null;
  /** Tells every node that an exam was edited (their in-process question caches drop it). */
  examChanged(examId: number): void;
  /** Tells every node who invigilates an exam now (consoles and feeds of the others stop). */
  invigilatorsChanged(examId: number, invigilatorIds: number[]): void;
}

/** Long enough for an exam of 1,000 questions in one authoring body; socket messages have their own, far smaller, limit. */
const BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Builds a ready, not yet listening server: database (migrated), Redis, routes. Used by `main.ts`, the
 * tests and the benchmarks alike. `app.close()` releases everything it opened.
 */
export interface BuildOptions {
  /** Fields on every log line of this app (e.g. `{ worker: 3 }` in cluster mode). */
  logBindings?: Record<string, unknown>;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<App> {
  // Request ids unique across nodes and workers (an `x-request-id` header still wins).
  const node = randomBytes(3).toString('hex');
  let requests = 0;
  const app = Fastify({
    genReqId: () => `${node}-${(++requests).toString(36)}`,
    logger: {
      level: config.logLevel,
      ...(config.env === 'development' ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
      base: { pid: process.pid, hostname: hostname(), ...opts.logBindings },
      serializers: {
        // The WebSocket feed accepts `?token=`: never let it reach a log line.
        req: (req) => ({
          method: req.method,
          url: req.url.replace(/([?&]token=)[^&]*/g, '$1[redacted]'),
          remoteAddress: req.ip,
        }),
      },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'body.password', 'password', 'token'],
        censor: '[redacted]',
      },
    },
    requestIdHeader: 'x-request-id',
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    // Refused during shutdown by our own hook below, in the contract's error shape.
    return503OnClosing: false,
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
  app.decorate('queries', await QueryCounter.attach(orm));
  app.decorate('tokens', new TokenService(config.jwtSecret, config.jwtTtlSeconds));
  app.decorate('redis', redis);
  app.decorateRequest('em', null as unknown as EntityManager);
  app.decorateRequest('user', null);
  let closing = false;
  app.addHook('onRequest', async (request) => {
    if (closing) throw new AppError('UNAVAILABLE', 'The server is shutting down', { retryAfterMs: 1000 });
    request.em = orm.em.fork();
  });

  // The realtime layer and the domain services of this node.
  const io = createSocketServer(app.server, config.allowedOrigins);
  const fanout = config.redisUrl ? attachRedisAdapter(io, config.redisUrl, config.redisKeyPrefix, app.log) : null;
  const bus = new ClusterBus(io.of('/'), fanout !== null, app.log);
  const examNsp = io.of(EXAM_NAMESPACE) as ExamNamespace;
  const invigilatorNsp = io.of(INVIGILATOR_NAMESPACE) as InvigilatorNamespace;
  const clock = new DbClock();
  const clocks = new AttemptClocks(examNsp, clock, { syncMs: config.timerSyncMs });
  const notifier: SocketNotifier = new SocketNotifier(io, bus, () => progress);
  const progress = new ProgressTracker(orm, (examId, updates) => notifier.roster(examId, updates), app.log, config.progressIntervalMs);
  const presence = new Presence(
    redis,
    config.redisKeyPrefix,
    (changes) => {
      for (const c of changes) {
        notifier.roster(c.examId, { attemptId: c.attemptId, student: { id: c.studentId }, connected: c.connected });
      }
    },
    app.log,
    config.presence,
  );
  const questions = new QuestionCache(redis, (examId) => loadQuestionSet(orm.em.fork(), examId), app.log, {
    keyPrefix: config.redisKeyPrefix,
    ttlSeconds: config.questionCacheTtlSeconds,
  });
  const answers = new AnswerWriter(orm, app.log, config.answers);
  const audit = new ProctorLog(orm, app.log);
  const attempts = new AttemptService({ orm, cache: questions, answers, proctor: audit, notifier, clock, log: app.log });
  const invigilation = new InvigilationService({ orm, attempts, audit, notifier, clock });
  const sweeper = new DeadlineSweeper(orm, answers, notifier, app.log, { intervalMs: config.sweepIntervalMs });
  const feeds = new FeedHub(app.log);
  bus.on<{ examId: number }>(TOPICS.examChanged, ({ examId }) => questions.evict(examId));
  app.decorate('io', io);
  app.decorate('services', {
    clock,
    questions,
    answers,
    audit,
    attempts,
    invigilation,
    sweeper,
    clocks,
    presence,
    progress,
    feeds,
    fanout,
    examChanged: (examId: number) => bus.publish(TOPICS.examChanged, { examId }),
    invigilatorsChanged: (examId: number, invigilatorIds: number[]) =>
      bus.publish(TOPICS.invigilatorsChanged, { examId, invigilatorIds }),
  });
  const limits = config.rateLimits;
  registerExamNamespace(examNsp, { attempts, clocks, presence, bus, tokens: app.tokens, limits, log: app.log });
  registerInvigilatorNamespace(invigilatorNsp, {
    invigilation,
    presence,
    bus,
    tokens: app.tokens,
    limits,
    log: app.log,
    deliverElsewhere: (d) => feeds.deliver(d),
    revokeElsewhere: (examId, assigned) => feeds.revoke(examId, assigned),
  });

  // Shutdown: stop taking socket events, then drain every buffer to the database, then close it.
  app.addHook('preClose', async () => {
    closing = true;
    // Every namespace: `io.local` is the main namespace only, where no client lives, and a still-open
    // WebSocket would keep the HTTP server (and so the whole shutdown) waiting for the client to leave.
    for (const nsp of [examNsp, invigilatorNsp]) nsp.local.disconnectSockets(true);
    feeds.closeAll();
  });
  app.addHook('onClose', async () => {
    await sweeper.stop();
    await answers.close();
    await audit.close();
    await progress.close();
    clocks.close();
    await presence.stop();
    await io.close().catch(() => undefined);
    await fanout?.close();
    await orm.close();
    if (redis) await closeRedis(redis);
    await embedded?.stop();
  });

  registerValidation(app);
  registerErrorHandling(app);
  await app.register(opsRoutes);
  await app.register(authRoutes);
  await app.register(examRoutes);
  await app.register(resultRoutes);
  await app.register(webRoutes);
  await registerFeedRoute(app, { hub: feeds, invigilation, presence });

  if (config.seedOnStart && (await orm.em.fork().count(User)) === 0) {
    const result = await seedDemo(orm.em.fork(), { students: config.seedStudents, password: config.demoPassword });
    app.log.info(result, 'seeded the demo data (empty database)');
  }

  // Wait briefly for Redis, so that a node that comes up is ready (readyz) when it says so.
  const redisClients = [redis, fanout?.pub, fanout?.sub].filter((c): c is Redis => Boolean(c));
  const connected = await Promise.all(redisClients.map((c) => waitReady(c, 5000)));
  if (connected.includes(false)) app.log.warn('Redis is not reachable yet: starting anyway, /readyz says so until it is');

  await app.ready();
  sweeper.start();
  presence.start();
  return app;
}
