import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, waitReady } from '../cache/redis.js';
import type { Config } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The cache and presence client; null when `REDIS_URL` is unset (single node, in-process cache). */
    redis: Redis | null;
  }
}

/**
 * The Redis client for the question cache and presence (the Socket.IO adapter has its own pair, see
 * the realtime plugin). Start-up waits up to 5 s for it, so that a node is ready when it says so, but
 * never refuses to start without it: `/readyz` tells.
 *
 * Without an offline queue: while Redis is away a command fails at once instead of waiting in
 * ioredis's queue for up to three reconnect attempts (seconds). Everything on this client is a cache
 * or a best effort with its own fallback — a question set is read from the database, presence
 * rewrites this node's entries once Redis is back, the login throttle counts on the node — so an
 * `attempt:start` during an outage costs the database read, not the wait (issue 9: it took ~3 s).
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const redis = config.redisUrl ? createRedis(config.redisUrl, app.log, 'cache', config.redisCommandTimeoutMs) : null;
    // ioredis reads the option on every command, so setting it on the client created above is enough.
    if (redis) redis.options.enableOfflineQueue = false;
    app.decorate('redis', redis);
    if (!redis) return;
    app.addHook('onClose', () => closeRedis(redis));
    if (!(await waitReady(redis, 5000))) app.log.warn('Redis is not reachable yet: starting anyway, /readyz says so until it is');
  },
  { name: 'redis', fastify: '5.x' },
);
