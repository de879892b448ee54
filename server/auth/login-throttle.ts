import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';

/** How a key's failures turn into a wait: none up to `free` failures, then doubling from `firstMs` up to `maxMs`. */
interface DelayRule {
  free: number;
  firstMs: number;
  maxMs: number;
}

/**
 * Per account: 5 free tries, then 1 s, 2 s, 4 s … at most 30 s between attempts. A classmate who
 * guesses slows the account down, but never locks its owner out: the right password is taken at the
 * next allowed attempt, at most 30 s later.
 */
export const ACCOUNT_RULE: DelayRule = { free: 5, firstMs: 1000, maxMs: 30_000 };
/**
 * Per client address, across accounts (credential stuffing). Generous, because a whole exam hall may
 * log in from one NAT address: 100 free failures per window, then 250 ms doubling up to 10 s.
 */
export const ADDRESS_RULE: DelayRule = { free: 100, firstMs: 250, maxMs: 10_000 };
/** Failures are forgotten this long after the last one. @default 15 minutes */
export const FAILURE_WINDOW_MS = 15 * 60_000;

function delayFor(failures: number, rule: DelayRule): number {
  if (failures < rule.free) return 0;
  return Math.min(rule.maxMs, rule.firstMs * 2 ** Math.min(failures - rule.free, 20));
}

interface Failures {
  count: number;
  lastAt: number;
}

/** Where failure counts live: Redis (shared by every node), or this process when there is none. */
interface FailureStore {
  read(keys: string[]): Promise<(Failures | null)[]>;
  add(keys: string[], at: number): Promise<void>;
  clear(key: string): Promise<void>;
}

class MemoryStore implements FailureStore {
  private readonly entries = new Map<string, Failures>();
  constructor(private readonly maxTracked = 100_000) {}

  async read(keys: string[]) {
    const now = Date.now();
    return keys.map((k) => {
      const e = this.entries.get(k);
      if (e && now - e.lastAt >= FAILURE_WINDOW_MS) this.entries.delete(k);
      return e && now - e.lastAt < FAILURE_WINDOW_MS ? e : null;
    });
  }
  async add(keys: string[], at: number) {
    for (const k of keys) {
      const e = this.entries.get(k);
      if (e && at - e.lastAt < FAILURE_WINDOW_MS) {
        e.count++;
        e.lastAt = at;
        continue;
      }
      if (this.entries.size >= this.maxTracked) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(k, { count: 1, lastAt: at });
    }
  }
  async clear(key: string) {
    this.entries.delete(key);
  }
}

class RedisStore implements FailureStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async read(keys: string[]) {
    const pipeline = this.redis.pipeline();
    for (const k of keys) pipeline.hmget(this.prefix + k, 'count', 'lastAt');
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err || !Array.isArray(value)) return null;
      const [count, lastAt] = value.map(Number);
      return Number.isFinite(count) && Number.isFinite(lastAt) && count! > 0 ? { count: count!, lastAt: lastAt! } : null;
    });
  }
  async add(keys: string[], at: number) {
    const multi = this.redis.multi();
    for (const k of keys) {
      multi.hincrby(this.prefix + k, 'count', 1);
      multi.hset(this.prefix + k, 'lastAt', at);
      multi.pexpire(this.prefix + k, FAILURE_WINDOW_MS);
    }
    await multi.exec();
  }
  async clear(key: string) {
    await this.redis.del(this.prefix + key);
  }
}

/**
 * Slows password guessing without locking anyone out: each failed login makes the next attempt for
 * the same account, and (past a generous allowance) from the same client address, wait a little
 * longer (see {@link ACCOUNT_RULE}, {@link ADDRESS_RULE}). An attempt made too soon is refused with
 * `RATE_LIMITED` and the wait in `retryAfterMs`, before the password is checked (so a guesser learns
 * nothing). With Redis every node shares the counts; while Redis is unreachable each node counts on
 * its own rather than failing logins.
 */
export class LoginThrottle {
  private readonly shared: FailureStore | null;
  private readonly local = new MemoryStore();

  constructor(redis: Redis | null, keyPrefix: string) {
    this.shared = redis ? new RedisStore(redis, `${keyPrefix}login:`) : null;
  }

  /** Throws `RATE_LIMITED` when this account or address must wait before its next attempt. */
  async check(email: string, address: string): Promise<void> {
    const [account, client] = await this.read([`acct:${email}`, `ip:${address}`]);
    const now = Date.now();
    const wait = Math.max(
      account ? account.lastAt + delayFor(account.count, ACCOUNT_RULE) - now : 0,
      client ? client.lastAt + delayFor(client.count, ADDRESS_RULE) - now : 0,
    );
    if (wait > 0) {
      throw new AppError('RATE_LIMITED', 'Too many failed logins; wait a moment and try again', { retryAfterMs: Math.ceil(wait) });
    }
  }

  async failed(email: string, address: string): Promise<void> {
    await this.write((s) => s.add([`acct:${email}`, `ip:${address}`], Date.now()));
  }

  /** The account's count starts over; the address's does not (one success does not excuse a stuffing run). */
  async succeeded(email: string): Promise<void> {
    await this.write((s) => s.clear(`acct:${email}`));
  }

  private async read(keys: string[]): Promise<(Failures | null)[]> {
    if (this.shared) {
      try {
        return await this.shared.read(keys);
      } catch {
        // Redis unreachable: this node's own counts.
      }
    }
    return this.local.read(keys);
  }

  private async write(op: (s: FailureStore) => Promise<void>): Promise<void> {
    await op(this.local);
    if (this.shared) await op(this.shared).catch(() => undefined);
  }
}
