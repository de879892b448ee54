import type { FastifyBaseLogger } from 'fastify';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import { closeRedis, createRedis } from '../cache/redis.js';

type FireAndForget = 'publish' | 'subscribe' | 'psubscribe' | 'unsubscribe' | 'punsubscribe';

function swallowRejections(client: Redis, method: FireAndForget, log: FastifyBaseLogger): void {
  const original = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as Record<FireAndForget, (...args: unknown[]) => Promise<unknown>>)[method] = (...args: unknown[]) =>
    original(...args).catch((err: unknown) => {
      log.debug({ err, method }, 'fan-out command failed (Redis unavailable)');
      return null;
    });
}

export interface RedisFanout {
  pub: Redis;
  sub: Redis;
  /** False while the subscriber is not connected: broadcasts from other nodes do not arrive. */
  healthy(): boolean;
  /** Calls `fn` each time the subscriber is back after being down (what came meanwhile was lost). */
  onRestored(fn: () => void): void;
  close(): Promise<void>;
}

/**
 * Connects Socket.IO's Redis adapter (`@socket.io/redis-adapter`) with two ioredis clients of our
 * own (error listeners, bounded retries). Logs once when fan-out degrades to this node only and once
 * when it recovers; `healthy()` feeds `/readyz`. Answers never go through here.
 */
export function attachRedisAdapter(io: Server, url: string, keyPrefix: string, log: FastifyBaseLogger): RedisFanout {
  const pub = createRedis(url, log, 'fanout-pub');
  const sub = createRedis(url, log, 'fanout-sub');
  let degraded = false;
  let closing = false;
  const restored: (() => void)[] = [];
  const onDown = () => {
    if (closing) return;
    if (!degraded) log.warn('fan-out degraded: the Redis subscriber is down, events reach this node only');
    degraded = true;
  };
  sub.on('close', onDown);
  sub.on('ready', () => {
    const wasDegraded = degraded;
    degraded = false;
    if (!wasDegraded) return;
    log.info('fan-out restored: the Redis subscriber is back');
    for (const fn of restored) fn();
  });
  // The adapter fires these and forgets the promise: while Redis is down each would be an unhandled
  // rejection, which ends a Node process. Fan-out degrades instead (logged above, seen by /readyz).
  for (const [client, methods] of [
    [pub, ['publish']],
    [sub, ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']],
  ] as const) {
    for (const method of methods) swallowRejections(client, method, log);
  }
  io.adapter(createAdapter(pub, sub, { key: `${keyPrefix}socket.io`, requestsTimeout: 3000 }));
  return {
    pub,
    sub,
    healthy: () => sub.status === 'ready',
    onRestored: (fn) => void restored.push(fn),
    async close() {
      closing = true;
      await Promise.all([closeRedis(pub), closeRedis(sub)]);
    },
  };
}
