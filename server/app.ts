import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { registerErrorHandling, replyWithError } from './http/errors.js';
import { registerValidation } from './http/validation.js';
import answerWriter from './plugins/answer-writer.js';
import auth from './plugins/auth.js';
import database from './plugins/database.js';
import exam from './plugins/exam.js';
import questionCache from './plugins/question-cache.js';
import realtime from './plugins/realtime.js';
import redis from './plugins/redis.js';
import routes from './plugins/routes.js';
import sockets from './plugins/sockets.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
  }
}

export type App = FastifyInstance;

/** Long enough for an exam of 1,000 questions in one authoring body; socket messages have their own, far smaller, limit. */
const BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Builds a ready, not yet listening server from its plugins, one per concern, each closed by its own
 * `onClose` (in reverse order: sockets first, the database last). Used by `main.ts`, the tests and the
 * benchmarks alike. `app.close()` releases everything it opened.
 */
export async function buildApp(config: Config): Promise<App> {
  // Request ids unique across nodes (an `x-request-id` header still wins).
  const node = randomBytes(3).toString('hex');
  let requests = 0;
  const app = Fastify({
    genReqId: () => `${node}-${(++requests).toString(36)}`,
    logger: {
      level: config.logLevel,
      // Readable lines on a developer's terminal; JSON lines everywhere else (production, tests, CI).
      ...(config.env === 'development' ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
      base: { pid: process.pid, hostname: hostname() },
      serializers: {
        // The feed refuses a `?token=`; one sent anyway must still not reach a log line.
        req: (req) => ({
          method: req.method,
          url: req.url.replace(/([?&]token=)[^&]*/g, '$1[redacted]'),
          remoteAddress: req.ip,
        }),
      },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-protocol"]', 'body.password', 'password', 'token'],
        censor: '[redacted]',
      },
    },
    requestIdHeader: 'x-request-id',
    // Behind nginx (deploy/): `request.ip` from X-Forwarded-For, for the proxies TRUST_PROXY names.
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    // Refused during shutdown by our own hook below, in the contract's error shape.
    return503OnClosing: false,
    // What the router refuses before any route (a malformed %-escape, an over-long path parameter): the contract's shape too.
    frameworkErrors: replyWithError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('config', config);
  // Before any plugin adds a route: a route keeps the validator and error handler it was registered with.
  registerValidation(app);
  registerErrorHandling(app);
  let closing = false;
  app.addHook('onRequest', async () => {
    if (closing) throw new AppError('UNAVAILABLE', 'The server is shutting down', { retryAfterMs: 1000 });
  });
  app.addHook('preClose', async () => {
    closing = true;
  });

  const plugin = { config };
  await app.register(database, plugin);
  await app.register(redis, plugin);
  await app.register(auth, plugin);
  await app.register(questionCache, plugin);
  await app.register(answerWriter, plugin);
  await app.register(realtime, plugin);
  await app.register(exam, plugin);
  await app.register(sockets, plugin);
  await app.register(routes);

  try {
    await app.ready();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
