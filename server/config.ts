import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * Everything the server reads from the environment, parsed and validated in one place.
 * A bad value stops start-up with a {@link ConfigError} that names the variable.
 */
export interface Config {
  /** `NODE_ENV`. @default 'development' */
  env: 'development' | 'production' | 'test';
  /** `PORT`. @default 3000 */
  port: number;
  /** `HOST`. @default '0.0.0.0' */
  host: string;
  /** `DATABASE_URL`; unset = embedded PGlite under {@link dataDir}. */
  databaseUrl: string | undefined;
  /** `DATA_DIR`: where the embedded database lives. @default './data' */
  dataDir: string;
  /**
   * `DB_POOL_MIN` / `DB_POOL_MAX` / `DB_IDLE_TIMEOUT_MS`: the PostgreSQL connection pool, the counterpart
   * of Django's `CONN_MAX_AGE`. Connections are reused, never more than `max` per process, and idle ones
   * above `min` are closed after the idle timeout. The embedded database always uses exactly one.
   * @default min 2, max 10, idle 30000 ms
   */
  dbPool: { min: number; max: number; idleTimeoutMs: number };
  /** `REDIS_URL`; unset = in-process cache and the single-node Socket.IO adapter. */
  redisUrl: string | undefined;
  /** `REDIS_KEY_PREFIX`: prefix of every Redis key and channel of this deployment. @default 'exam:' */
  redisKeyPrefix: string;
  /** `ALLOWED_ORIGINS` (comma-separated); empty = only the server's own origin. */
  allowedOrigins: string[];
  /** `JWT_SECRET`; required in production, generated (and printed once) in development. */
  jwtSecret: string;
  /** True when the secret was generated at start-up, i.e. tokens die with the process. */
  jwtSecretGenerated: boolean;
  /** `JWT_TTL_SECONDS`: token lifetime. @default 28800 (8 h, a long exam day) */
  jwtTtlSeconds: number;
  /** `LOG_LEVEL`. @default 'info' ('warn' under test) */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `WORKERS` (the `--workers N` flag overrides it, see main.ts): processes on one port (cluster mode, server/cluster.ts). @default 1 */
  workers: number;
  /** `DEMO_PASSWORD`: password of every demo user. @default 'demo1234' */
  demoPassword: string;
  /** `SEED_STUDENTS`: number of demo students. @default 30 */
  seedStudents: number;
  /** `SEED_ON_START`: seed the demo data on start when the database has no users. @default true when embedded */
  seedOnStart: boolean;
  /**
   * The answer writer. `ANSWER_FLUSH_MS`: longest an answer waits before its batch is written
   * (@default 5); `ANSWER_BATCH_SIZE`: answers per statement (@default 1000); `ANSWER_MAX_PENDING`:
   * answers buffered or in flight before new ones get `UNAVAILABLE` (@default 20000);
   * `ANSWER_FLUSH_CONCURRENCY`: batches written at once (@default 2).
   */
  answers: { flushIntervalMs: number; maxBatch: number; maxPending: number; concurrency: number };
  /** `SWEEP_INTERVAL_MS`: how often each node auto-submits overdue attempts. @default 2000 */
  sweepIntervalMs: number;
  /** `TIMER_SYNC_MS`: periodic `timer` sync to each attempt's sockets. @default 30000 */
  timerSyncMs: number;
  /** `QUESTION_CACHE_TTL_SECONDS`: Redis TTL of a cached question set. @default 3600 */
  questionCacheTtlSeconds: number;
  /**
   * Presence across nodes. `PRESENCE_HEARTBEAT_MS`: how often a node says it is alive (@default 2000);
   * `PRESENCE_DEAD_AFTER_MS`: silence after which its students are shown disconnected (@default 6000).
   */
  presence: { heartbeatMs: number; deadAfterMs: number };
  /** `PROGRESS_INTERVAL_MS`: at most one progress update per student per this interval. @default 1000 */
  progressIntervalMs: number;
  /**
   * Socket rate limits per connection, each written `perSecond/burst`. `RATE_LIMIT_ANSWERS`
   * (@default 10/100: a reconnect re-sends what was not acked), `RATE_LIMIT_PROCTOR` (@default 2/20),
   * `RATE_LIMIT_OTHER` (start, submit; invigilators get twice it) (@default 5/20).
   */
  rateLimits: Record<'answers' | 'proctor' | 'other', { perSecond: number; burst: number }>;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return raw;
}

function rate(env: Env, name: string, fallback: { perSecond: number; burst: number }): { perSecond: number; burst: number } {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(raw);
  const perSecond = m ? Number(m[1]) : NaN;
  const burst = m ? Number(m[2]) : NaN;
  if (!(perSecond > 0 && perSecond <= 100_000 && burst >= 1 && burst <= 1_000_000)) {
    throw new ConfigError(name, `must be "perSecond/burst" (e.g. "10/100"), got "${raw}"`);
  }
  return { perSecond, burst };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ENVS = ['development', 'production', 'test'] as const;

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const found = values.find((v) => v === raw);
  if (!found) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  return found;
}

/** Parses the environment into a {@link Config}; throws {@link ConfigError} naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', ENVS, 'development');
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:']);

  const allowedOrigins = (str(env, 'ALLOWED_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of allowedOrigins) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError('ALLOWED_ORIGINS', `has "${origin}", which is not an origin like https://exam.example.org`);
    }
    if (parsed.origin !== origin) {
      throw new ConfigError('ALLOWED_ORIGINS', `has "${origin}"; write it as an origin: "${parsed.origin}"`);
    }
  }

  let jwtSecret = str(env, 'JWT_SECRET');
  let jwtSecretGenerated = false;
  if (jwtSecret === undefined) {
    if (nodeEnv === 'production') throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
    jwtSecret = randomBytes(32).toString('base64url');
    jwtSecretGenerated = true;
  } else if (jwtSecret.length < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 characters long');
  }

  if (int(env, 'PRESENCE_DEAD_AFTER_MS', 6000, 300, 600_000) <= int(env, 'PRESENCE_HEARTBEAT_MS', 2000, 100, 60_000)) {
    throw new ConfigError('PRESENCE_DEAD_AFTER_MS', 'must be longer than PRESENCE_HEARTBEAT_MS');
  }
  const min = int(env, 'DB_POOL_MIN', 2, 0, 1000);
  const max = int(env, 'DB_POOL_MAX', 10, 1, 1000);
  if (min > max) throw new ConfigError('DB_POOL_MIN', `must not exceed DB_POOL_MAX (${max}), got ${min}`);

  return {
    env: nodeEnv,
    port: int(env, 'PORT', 3000, 0, 65535),
    host: str(env, 'HOST') ?? '0.0.0.0',
    databaseUrl,
    dataDir: path.resolve(str(env, 'DATA_DIR') ?? './data'),
    dbPool: { min, max, idleTimeoutMs: int(env, 'DB_IDLE_TIMEOUT_MS', 30_000, 1_000, 3_600_000) },
    redisUrl,
    redisKeyPrefix: str(env, 'REDIS_KEY_PREFIX') ?? 'exam:',
    allowedOrigins,
    jwtSecret,
    jwtSecretGenerated,
    jwtTtlSeconds: int(env, 'JWT_TTL_SECONDS', 8 * 3600, 60, 30 * 24 * 3600),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'warn' : 'info'),
    workers: int(env, 'WORKERS', 1, 1, 64),
    demoPassword: str(env, 'DEMO_PASSWORD') ?? 'demo1234',
    seedStudents: int(env, 'SEED_STUDENTS', 30, 1, 100_000),
    seedOnStart: bool(env, 'SEED_ON_START', databaseUrl === undefined),
    answers: {
      flushIntervalMs: int(env, 'ANSWER_FLUSH_MS', 5, 0, 1000),
      maxBatch: int(env, 'ANSWER_BATCH_SIZE', 1000, 1, 10_000),
      maxPending: int(env, 'ANSWER_MAX_PENDING', 20_000, 1, 1_000_000),
      concurrency: int(env, 'ANSWER_FLUSH_CONCURRENCY', 2, 1, 32),
    },
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 2000, 100, 60_000),
    timerSyncMs: int(env, 'TIMER_SYNC_MS', 30_000, 1000, 600_000),
    questionCacheTtlSeconds: int(env, 'QUESTION_CACHE_TTL_SECONDS', 3600, 10, 7 * 24 * 3600),
    presence: {
      heartbeatMs: int(env, 'PRESENCE_HEARTBEAT_MS', 2000, 100, 60_000),
      deadAfterMs: int(env, 'PRESENCE_DEAD_AFTER_MS', 6000, 300, 600_000),
    },
    progressIntervalMs: int(env, 'PROGRESS_INTERVAL_MS', 1000, 50, 60_000),
    rateLimits: {
      answers: rate(env, 'RATE_LIMIT_ANSWERS', { perSecond: 10, burst: 100 }),
      proctor: rate(env, 'RATE_LIMIT_PROCTOR', { perSecond: 2, burst: 20 }),
      other: rate(env, 'RATE_LIMIT_OTHER', { perSecond: 5, burst: 20 }),
    },
  };
}
