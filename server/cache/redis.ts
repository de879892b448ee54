import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';

/**
 * An ioredis client with what every client of ours needs: an error listener (an unhandled `error`
 * event crashes the process), bounded retries per command, a capped reconnect back-off, and, when
 * given, a reply deadline per command (`commandTimeoutMs`): a Redis that stops answering without
 * closing the connection would otherwise leave every caller of the cache client waiting (a login's
 * throttle check, a first `attempt:start`'s cache read, `/readyz`) instead of falling back as when it
 * is down. The adapter's pair goes without: nothing waits on its commands (publishes are fired and
 * forgotten, the subscriber only subscribes), and its reconnect and resubscribe stay as tested.
 */
export function createRedis(url: string, log: FastifyBaseLogger, name: string, commandTimeoutMs?: number): Redis {
  const client = new Redis(url, {
    connectionName: name,
    ...(commandTimeoutMs ? { commandTimeout: commandTimeoutMs } : {}),
    maxRetriesPerRequest: 2,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // One line per distinct failure, not one per reconnect attempt.
    if (err.message !== lastError) log.warn({ err, redis: name }, 'redis client error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError) log.info({ redis: name }, 'redis client reconnected');
    lastError = '';
  });
  return client;
}

/** Closes politely when connected (QUIT waits for replies), at once otherwise (no reconnect wait). */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/**
 * Resolves once the client is connected, or after `timeoutMs` (false then): start-up waits for Redis
 * briefly so a fresh node is ready at once, but never refuses to start without it.
 */
export function waitReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/**
 * Deletes every key of a deployment's prefix (SCAN, never KEYS): for tests and benchmarks that share
 * one Redis, and for an operator retiring a deployment. Best effort: an unreachable Redis is skipped.
 */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Unreachable: nothing that can be cleaned now.
  } finally {
    redis.disconnect();
  }
  return deleted;
}
