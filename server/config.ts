import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { Type, type StaticDecode, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { FAILPOINT_NAMES, parseFailpoints, type ArmedFailpoint } from './failpoints.js';

// ---------------------------------------------------------------------------------------------
// The environment: every variable the server reads, its type, range and default, in one schema.
// Values arrive as strings; `loadConfig` turns integers and booleans into numbers and booleans
// (strictly: "1.5" is not an integer), fills the defaults, checks the schema and decodes the rest.

const Integer = (fallback: number, minimum: number, maximum: number) => Type.Integer({ minimum, maximum, default: fallback });

/** `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case). */
const TRUE_WORDS = /^(1|true|yes|on)$/i;
const FALSE_WORDS = /^(0|false|no|off)$/i;

/** A URL with one of `protocols` (e.g. `postgres:`); unset when absent. */
const Url = (protocols: string[]) =>
  Type.Optional(
    Type.Refine(
      Type.String(),
      (raw) => URL.canParse(raw) && protocols.includes(new URL(raw).protocol),
      (raw) => (URL.canParse(raw) ? `must use ${protocols.join(' or ')}, got "${new URL(raw).protocol}"` : 'must be a URL'),
    ),
  );

/** The first entry of a comma-separated origin list that is not written exactly as an origin. */
function badOrigin(list: string): string | undefined {
  return splitList(list).find((o) => !URL.canParse(o) || new URL(o).origin !== o);
}
const splitList = (list: string) =>
  list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const Origins = Type.Codec(
  Type.Refine(
    Type.String({ default: '' }),
    (list) => badOrigin(list) === undefined,
    (list) => {
      const bad = badOrigin(list)!;
      return URL.canParse(bad)
        ? `has "${bad}"; write it as an origin: "${new URL(bad).origin}"`
        : `has "${bad}", which is not an origin like https://exam.example.org`;
    },
  ),
)
  .Decode((list) => splitList(list))
  .Encode((origins) => origins.join(','));

/** `perSecond/burst`, e.g. `10/100`: a token bucket refilled at `perSecond`, holding at most `burst`. */
interface Rate {
  perSecond: number;
  burst: number;
}
function parseRate(raw: string): Rate | undefined {
  const m = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(raw);
  if (!m) return undefined;
  const rate = { perSecond: Number(m[1]), burst: Number(m[2]) };
  return rate.perSecond > 0 && rate.perSecond <= 100_000 && rate.burst >= 1 && rate.burst <= 1_000_000 ? rate : undefined;
}
const RateLimit = (fallback: string) =>
  Type.Codec(
    Type.Refine(
      Type.String({ default: fallback }),
      (raw) => parseRate(raw) !== undefined,
      (raw) => `must be "perSecond/burst" (e.g. "10/100"), got "${raw}"`,
    ),
  )
    .Decode((raw): Rate => parseRate(raw)!)
    .Encode((rate) => `${rate.perSecond}/${rate.burst}`);

/**
 * Fastify's `trustProxy`: `true`/`false` or a comma-separated list of proxy addresses and CIDR ranges
 * (`127.0.0.1,10.0.0.0/8`). No hop count: Fastify trusts nothing for one (it cannot check the peer),
 * and `1` reads too easily as "yes".
 */
type TrustProxy = boolean | string[];
function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}
function parseTrustProxy(raw: string): TrustProxy | undefined {
  if (/^\d+$/.test(raw)) return undefined;
  if (TRUE_WORDS.test(raw)) return true;
  if (FALSE_WORDS.test(raw)) return false;
  const entries = splitList(raw);
  return entries.length > 0 && entries.every(isAddressOrRange) ? entries : undefined;
}
const TrustProxy = Type.Codec(
  Type.Refine(
    Type.String({ default: 'false' }),
    (raw) => parseTrustProxy(raw) !== undefined,
    (raw) => `must be true, false or a comma-separated list of proxy addresses or CIDR ranges, got "${raw}"`,
  ),
)
  .Decode((raw): TrustProxy => parseTrustProxy(raw)!)
  .Encode((trust) => (Array.isArray(trust) ? trust.join(',') : String(trust)));

/** `FAILPOINTS`: failpoint names, each optionally `@n` (see server/failpoints.ts). */
const Failpoints = Type.Codec(
  Type.Refine(
    Type.String({ default: '' }),
    (raw) => Array.isArray(parseFailpoints(raw)),
    (raw) => {
      const parsed = parseFailpoints(raw);
      const bad = Array.isArray(parsed) ? raw : parsed.bad;
      return `has "${bad}"; write failpoint names (${FAILPOINT_NAMES.join(', ')}), each optionally @n (crash at the n-th time)`;
    },
  ),
)
  .Decode((raw): ArmedFailpoint[] => parseFailpoints(raw) as ArmedFailpoint[])
  .Encode((armed) => armed.map((a) => `${a.name}@${a.hit}`).join(','));

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The environment as one schema: names, types, ranges and defaults. What depends on another variable
 * (the `LOG_LEVEL` and `SEED_ON_START` defaults, `JWT_SECRET` in production, the pool and presence
 * bounds) is decided in {@link loadConfig}. The meaning of each is on {@link Config} and in the README.
 */
export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.Enum(['development', 'production', 'test'], { default: 'development' }),
  PORT: Integer(3000, 0, 65535),
  HOST: Type.String({ default: '0.0.0.0' }),
  TRUST_PROXY: TrustProxy,
  DATABASE_URL: Url(['postgres:', 'postgresql:']),
  DATA_DIR: Type.String({ default: './data' }),
  DB_POOL_MIN: Integer(2, 0, 1000),
  DB_POOL_MAX: Integer(10, 1, 1000),
  DB_IDLE_TIMEOUT_MS: Integer(30_000, 1_000, 3_600_000),
  REDIS_URL: Url(['redis:', 'rediss:']),
  REDIS_KEY_PREFIX: Type.String({ default: 'exam:' }),
  REDIS_COMMAND_TIMEOUT_MS: Integer(2000, 100, 60_000),
  ALLOWED_ORIGINS: Origins,
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_TTL_SECONDS: Integer(8 * 3600, 60, 30 * 24 * 3600),
  LOG_LEVEL: Type.Optional(Type.Enum(LOG_LEVELS)),
  DEMO_PASSWORD: Type.String({ default: 'demo1234' }),
  SEED_STUDENTS: Integer(30, 1, 100_000),
  SEED_ON_START: Type.Optional(Type.Boolean()),
  ANSWER_FLUSH_MS: Integer(5, 0, 1000),
  ANSWER_BATCH_SIZE: Integer(1000, 1, 10_000),
  ANSWER_MAX_PENDING: Integer(20_000, 1, 1_000_000),
  ANSWER_FLUSH_CONCURRENCY: Integer(2, 1, 32),
  SWEEP_INTERVAL_MS: Integer(2000, 100, 60_000),
  TIMER_SYNC_MS: Integer(30_000, 1000, 600_000),
  RESYNC_INTERVAL_MS: Integer(15_000, 1000, 600_000),
  QUESTION_CACHE_TTL_SECONDS: Integer(3600, 10, 7 * 24 * 3600),
  PRESENCE_HEARTBEAT_MS: Integer(2000, 100, 60_000),
  PRESENCE_DEAD_AFTER_MS: Integer(6000, 300, 600_000),
  PROGRESS_INTERVAL_MS: Integer(1000, 50, 60_000),
  RATE_LIMIT_ANSWERS: RateLimit('10/100'),
  RATE_LIMIT_PROCTOR: RateLimit('2/20'),
  RATE_LIMIT_OTHER: RateLimit('5/20'),
  SOCKETS_PER_USER: Integer(5, 1, 100),
  FAILPOINTS: Failpoints,
});

/** The environment once parsed: what each variable's schema decodes to. */
export type Environment = StaticDecode<typeof EnvironmentSchema>;

/**
 * Everything the server reads from the environment, parsed and validated in one place
 * ({@link EnvironmentSchema}). A bad value stops start-up with a {@link ConfigError} that names the variable.
 */
export interface Config {
  /** `NODE_ENV`; `production` makes `JWT_SECRET` required. @default 'development' */
  env: Environment['NODE_ENV'];
  /** `PORT`: the HTTP port. @default 3000 */
  port: Environment['PORT'];
  /** `HOST`: the address to listen on. @default '0.0.0.0' */
  host: Environment['HOST'];
  /**
   * `TRUST_PROXY`: which proxies in front of the node Fastify believes about the client's address
   * (`X-Forwarded-For`, so `request.ip` is the client's, not nginx's): `true` (any), `false` (none),
   * or proxy addresses and CIDR ranges. See deploy/README.md. @default false
   */
  trustProxy: Environment['TRUST_PROXY'];
  /** `DATABASE_URL`; unset = embedded PGlite under {@link dataDir}. @default undefined */
  databaseUrl: Environment['DATABASE_URL'];
  /** `DATA_DIR`: where the embedded database lives (resolved to an absolute path). @default './data' */
  dataDir: Environment['DATA_DIR'];
  /**
   * `DB_POOL_MIN` / `DB_POOL_MAX` / `DB_IDLE_TIMEOUT_MS`: the PostgreSQL connection pool, the counterpart
   * of Django's `CONN_MAX_AGE`. Connections are reused, never more than `max` per process, and idle ones
   * above `min` are closed after the idle timeout. The embedded database always uses exactly one.
   * @default { min: 2, max: 10, idleTimeoutMs: 30000 }
   */
  dbPool: { min: Environment['DB_POOL_MIN']; max: Environment['DB_POOL_MAX']; idleTimeoutMs: Environment['DB_IDLE_TIMEOUT_MS'] };
  /** `REDIS_URL`; unset = in-process cache and the single-node Socket.IO adapter. @default undefined */
  redisUrl: Environment['REDIS_URL'];
  /** `REDIS_KEY_PREFIX`: prefix of every Redis key and channel of this deployment. @default 'exam:' */
  redisKeyPrefix: Environment['REDIS_KEY_PREFIX'];
  /**
   * `REDIS_COMMAND_TIMEOUT_MS`: a Redis command without a reply after this long fails, so that a Redis
   * that hangs (paused, cut without a reset) is met by the same fallbacks as one that is down. @default 2000
   */
  redisCommandTimeoutMs: Environment['REDIS_COMMAND_TIMEOUT_MS'];
  /** `ALLOWED_ORIGINS` (comma-separated); empty = only the server's own origin. @default [] */
  allowedOrigins: Environment['ALLOWED_ORIGINS'];
  /** `JWT_SECRET`, at least 32 characters; required in production, generated (and announced) otherwise. @default generated */
  jwtSecret: string;
  /** True when the secret was generated at start-up, i.e. tokens die with the process. @default true when `JWT_SECRET` is unset */
  jwtSecretGenerated: boolean;
  /** `JWT_TTL_SECONDS`: token lifetime. @default 28800 (8 h, a long exam day) */
  jwtTtlSeconds: Environment['JWT_TTL_SECONDS'];
  /** `LOG_LEVEL`. @default 'info' ('warn' under `NODE_ENV=test`) */
  logLevel: NonNullable<Environment['LOG_LEVEL']>;
  /** `DEMO_PASSWORD`: password of every demo user. @default 'demo1234' */
  demoPassword: Environment['DEMO_PASSWORD'];
  /** `SEED_STUDENTS`: number of demo students. @default 30 */
  seedStudents: Environment['SEED_STUDENTS'];
  /** `SEED_ON_START`: seed the demo data on start when the database has no users. @default true when embedded, else false */
  seedOnStart: boolean;
  /**
   * The answer writer. `ANSWER_FLUSH_MS`: longest an answer waits before its batch is written;
   * `ANSWER_BATCH_SIZE`: answers per statement; `ANSWER_MAX_PENDING`: answers buffered or in flight
   * before new ones get `UNAVAILABLE`; `ANSWER_FLUSH_CONCURRENCY`: batches written at once.
   * @default { flushIntervalMs: 5, maxBatch: 1000, maxPending: 20000, concurrency: 2 }
   */
  answers: {
    flushIntervalMs: Environment['ANSWER_FLUSH_MS'];
    maxBatch: Environment['ANSWER_BATCH_SIZE'];
    maxPending: Environment['ANSWER_MAX_PENDING'];
    concurrency: Environment['ANSWER_FLUSH_CONCURRENCY'];
  };
  /** `SWEEP_INTERVAL_MS`: how often each node auto-submits overdue attempts. @default 2000 */
  sweepIntervalMs: Environment['SWEEP_INTERVAL_MS'];
  /** `TIMER_SYNC_MS`: periodic `timer` sync to each attempt's sockets. @default 30000 */
  timerSyncMs: Environment['TIMER_SYNC_MS'];
  /**
   * `RESYNC_INTERVAL_MS`: how often each node re-reads, from the database, the deadlines and status of
   * the attempts its sockets hold and the assignment of the invigilators watching on it (also done
   * whenever the Redis subscriber comes back): a cross-node message lost while Redis was away is
   * repaired within this. @default 15000
   */
  resyncIntervalMs: Environment['RESYNC_INTERVAL_MS'];
  /** `QUESTION_CACHE_TTL_SECONDS`: Redis TTL of a cached question set. @default 3600 */
  questionCacheTtlSeconds: Environment['QUESTION_CACHE_TTL_SECONDS'];
  /**
   * Presence across nodes. `PRESENCE_HEARTBEAT_MS`: how often a node says it is alive;
   * `PRESENCE_DEAD_AFTER_MS`: silence after which its students are shown disconnected (more than the heartbeat).
   * @default { heartbeatMs: 2000, deadAfterMs: 6000 }
   */
  presence: { heartbeatMs: Environment['PRESENCE_HEARTBEAT_MS']; deadAfterMs: Environment['PRESENCE_DEAD_AFTER_MS'] };
  /** `PROGRESS_INTERVAL_MS`: at most one progress update per student per this interval. @default 1000 */
  progressIntervalMs: Environment['PROGRESS_INTERVAL_MS'];
  /**
   * Socket rate limits per user (shared by all of a user's sockets on a node), each written
   * `perSecond/burst`: `RATE_LIMIT_ANSWERS` (a reconnect re-sends what was not acked),
   * `RATE_LIMIT_PROCTOR`, `RATE_LIMIT_OTHER` (start, submit; invigilators get twice it).
   * @default { answers: 10/100, proctor: 2/20, other: 5/20 }
   */
  rateLimits: Record<'answers' | 'proctor' | 'other', Rate>;
  /** `SOCKETS_PER_USER`: most sockets one user may hold on a node (more get `RATE_LIMITED`). @default 5 */
  socketsPerUser: Environment['SOCKETS_PER_USER'];
  /**
   * `FAILPOINTS`: for fault tests only, the failpoints armed in this process (server/failpoints.ts):
   * reaching one kills the process with SIGKILL. Refused when `NODE_ENV=production`. @default []
   */
  failpoints: Environment['FAILPOINTS'];
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
type ValidationError = ReturnType<typeof Value.Errors>[number];

/**
 * The schema's variables from `env`: trimmed, empty ones dropped (empty counts as unset), integers and
 * booleans converted when they are written as one, anything else left as it is for the check to refuse.
 */
function readVariables(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(EnvironmentSchema.properties) as [string, TSchema & { type?: unknown }][]) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    if (schema.type === 'integer' && /^-?\d+$/.test(raw)) out[name] = Number(raw);
    else if (schema.type === 'boolean' && (TRUE_WORDS.test(raw) || FALSE_WORDS.test(raw))) out[name] = TRUE_WORDS.test(raw);
    else out[name] = raw;
  }
  return out;
}

/** One schema error as a sentence about the variable. A too-short value (the secret) is never echoed. */
function explain(error: ValidationError, value: unknown): string {
  const schema = EnvironmentSchema.properties[error.instancePath.slice(1) as keyof Environment] as {
    minimum?: number;
    maximum?: number;
  };
  switch (error.keyword) {
    case 'type':
      return 'type' in error.params && error.params.type === 'boolean'
        ? `must be true or false (1/0, yes/no, on/off), got "${String(value)}"`
        : `must be an integer, got "${String(value)}"`;
    case 'minimum':
    case 'maximum':
      return `must be between ${schema.minimum} and ${schema.maximum}, got ${String(value)}`;
    case 'enum':
      return `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}, got "${String(value)}"`;
    case 'minLength':
      return `must be at least ${(error.params as { limit: number }).limit} characters long`;
    default:
      return error.message;
  }
}

/** Parses the environment into a {@link Config}; throws {@link ConfigError} naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const variables = Value.Default(EnvironmentSchema, readVariables(env)) as Record<string, unknown>;
  const [error] = Value.Errors(EnvironmentSchema, variables);
  if (error) {
    const name = error.instancePath.slice(1);
    throw new ConfigError(name, explain(error, variables[name]));
  }
  const e: Environment = Value.Decode(EnvironmentSchema, variables);

  let jwtSecret = e.JWT_SECRET;
  const jwtSecretGenerated = jwtSecret === undefined;
  if (jwtSecret === undefined) {
    if (e.NODE_ENV === 'production') throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
    jwtSecret = randomBytes(32).toString('base64url');
  }
  if (e.PRESENCE_DEAD_AFTER_MS <= e.PRESENCE_HEARTBEAT_MS) {
    throw new ConfigError('PRESENCE_DEAD_AFTER_MS', 'must be longer than PRESENCE_HEARTBEAT_MS');
  }
  if (e.FAILPOINTS.length > 0 && e.NODE_ENV === 'production') {
    throw new ConfigError('FAILPOINTS', 'is for fault tests; it is refused when NODE_ENV=production');
  }
  if (e.DB_POOL_MIN > e.DB_POOL_MAX) {
    throw new ConfigError('DB_POOL_MIN', `must not exceed DB_POOL_MAX (${e.DB_POOL_MAX}), got ${e.DB_POOL_MIN}`);
  }

  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    trustProxy: e.TRUST_PROXY,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    dbPool: { min: e.DB_POOL_MIN, max: e.DB_POOL_MAX, idleTimeoutMs: e.DB_IDLE_TIMEOUT_MS },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    allowedOrigins: e.ALLOWED_ORIGINS,
    jwtSecret,
    jwtSecretGenerated,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'warn' : 'info'),
    demoPassword: e.DEMO_PASSWORD,
    seedStudents: e.SEED_STUDENTS,
    seedOnStart: e.SEED_ON_START ?? e.DATABASE_URL === undefined,
    answers: {
      flushIntervalMs: e.ANSWER_FLUSH_MS,
      maxBatch: e.ANSWER_BATCH_SIZE,
      maxPending: e.ANSWER_MAX_PENDING,
      concurrency: e.ANSWER_FLUSH_CONCURRENCY,
    },
    sweepIntervalMs: e.SWEEP_INTERVAL_MS,
    timerSyncMs: e.TIMER_SYNC_MS,
    resyncIntervalMs: e.RESYNC_INTERVAL_MS,
    questionCacheTtlSeconds: e.QUESTION_CACHE_TTL_SECONDS,
    presence: { heartbeatMs: e.PRESENCE_HEARTBEAT_MS, deadAfterMs: e.PRESENCE_DEAD_AFTER_MS },
    progressIntervalMs: e.PROGRESS_INTERVAL_MS,
    rateLimits: { answers: e.RATE_LIMIT_ANSWERS, proctor: e.RATE_LIMIT_PROCTOR, other: e.RATE_LIMIT_OTHER },
    socketsPerUser: e.SOCKETS_PER_USER,
    failpoints: e.FAILPOINTS,
  };
}
