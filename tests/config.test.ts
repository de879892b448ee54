import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, EnvironmentSchema, loadConfig } from '../server/config.js';

/** The ConfigError thrown by `loadConfig(env)`, or a failure when it does not throw one. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      env: 'development',
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: undefined,
      dataDir: path.resolve('./data'),
      dbPool: { min: 2, max: 10, idleTimeoutMs: 30_000 },
      redisUrl: undefined,
      redisKeyPrefix: 'exam:',
      allowedOrigins: [],
      jwtSecretGenerated: true,
      jwtTtlSeconds: 28_800,
      logLevel: 'info',
      trustProxy: false,
      demoPassword: 'demo1234',
      seedStudents: 30,
      // Embedded (no DATABASE_URL): the demo data is loaded on first start.
      seedOnStart: true,
    });
    expect(c.jwtSecret.length).toBeGreaterThanOrEqual(32);
    // A generated secret is random per process, not a constant.
    expect(loadConfig({}).jwtSecret).not.toBe(c.jwtSecret);
  });

  it('reads every variable it is given', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://u:p@db:5432/exam',
      DATA_DIR: '/tmp/exam-data',
      DB_POOL_MIN: '1',
      DB_POOL_MAX: '20',
      DB_IDLE_TIMEOUT_MS: '5000',
      REDIS_URL: 'redis://cache:6379',
      REDIS_KEY_PREFIX: 'x:',
      ALLOWED_ORIGINS: 'https://exam.example.org, http://localhost:5173',
      JWT_SECRET: 'a'.repeat(32),
      JWT_TTL_SECONDS: '3600',
      LOG_LEVEL: 'debug',
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
      DEMO_PASSWORD: 'pw',
      SEED_STUDENTS: '7',
    });
    expect(c).toMatchObject({
      env: 'production',
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgres://u:p@db:5432/exam',
      dataDir: '/tmp/exam-data',
      dbPool: { min: 1, max: 20, idleTimeoutMs: 5000 },
      redisUrl: 'redis://cache:6379',
      redisKeyPrefix: 'x:',
      allowedOrigins: ['https://exam.example.org', 'http://localhost:5173'],
      jwtSecret: 'a'.repeat(32),
      jwtSecretGenerated: false,
      jwtTtlSeconds: 3600,
      logLevel: 'debug',
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
      demoPassword: 'pw',
      seedStudents: 7,
      // With a real PostgreSQL the demo data is not loaded unless asked for.
      seedOnStart: false,
    });
  });

  it('logs at warn under test, and SEED_ON_START overrides the default', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).logLevel).toBe('warn');
    expect(loadConfig({ SEED_ON_START: 'false' }).seedOnStart).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgresql://h/db', SEED_ON_START: 'yes' }).seedOnStart).toBe(true);
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['REDIS_URL', { REDIS_URL: 'nonsense' }],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['DB_POOL_MIN', { DB_POOL_MIN: '5', DB_POOL_MAX: '2' }],
    ['DB_POOL_MAX', { DB_POOL_MAX: '0' }],
    ['ALLOWED_ORIGINS', { ALLOWED_ORIGINS: 'https://exam.example.org/app' }],
    ['ALLOWED_ORIGINS', { ALLOWED_ORIGINS: 'https://ok.example.org,exam.example.org' }],
    ['JWT_SECRET', { JWT_SECRET: 'too-short' }],
    ['JWT_SECRET', { NODE_ENV: 'production' }],
    ['PORT', { PORT: '1.5' }],
    ['SEED_STUDENTS', { SEED_STUDENTS: '0' }],
    ['PRESENCE_DEAD_AFTER_MS', { PRESENCE_HEARTBEAT_MS: '5000', PRESENCE_DEAD_AFTER_MS: '5000' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'nginx' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '1' }],
    ['SEED_ON_START', { SEED_ON_START: 'maybe' }],
  ])('refuses a bad %s: %j', (variable, env) => {
    const err = configError(env);
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
  });

  it('counts empty and blank values as unset, and trims the others', () => {
    const c = loadConfig({ PORT: '', HOST: '  ', JWT_SECRET: ' ', DATABASE_URL: '', LOG_LEVEL: ' debug ', SEED_STUDENTS: ' 4 ' });
    expect(c).toMatchObject({ port: 3000, host: '0.0.0.0', jwtSecretGenerated: true, databaseUrl: undefined, logLevel: 'debug', seedStudents: 4 });
    // Unset, so production still asks for it.
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: '   ' }).variable).toBe('JWT_SECRET');
  });

  it('reads TRUST_PROXY as a boolean or proxy addresses and ranges', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'off' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '::1,172.16.0.0/12' }).trustProxy).toEqual(['::1', '172.16.0.0/12']);
  });

  it('does not echo a rejected JWT_SECRET into the error message', () => {
    const err = configError({ JWT_SECRET: 'hunter2-secret' });
    expect(err.message).not.toContain('hunter2-secret');
  });
});

describe('socket rate limits', () => {
  it('default to 10/100 answers, 2/20 proctor events, 5/20 other events per socket', () => {
    expect(loadConfig({}).rateLimits).toEqual({
      answers: { perSecond: 10, burst: 100 },
      proctor: { perSecond: 2, burst: 20 },
      other: { perSecond: 5, burst: 20 },
    });
  });

  it('read "perSecond/burst" and refuse anything else, naming the variable', () => {
    expect(loadConfig({ RATE_LIMIT_ANSWERS: '50/500', RATE_LIMIT_PROCTOR: '0.5/5' }).rateLimits).toMatchObject({
      answers: { perSecond: 50, burst: 500 },
      proctor: { perSecond: 0.5, burst: 5 },
    });
    for (const bad of ['10', '10/', '/10', '0/10', '10/0', 'ten/100', '-1/5']) {
      const err = configError({ RATE_LIMIT_OTHER: bad });
      expect(err.variable).toBe('RATE_LIMIT_OTHER');
      expect(err.message).toContain('RATE_LIMIT_OTHER');
    }
  });
});

describe('the environment schema', () => {
  it('is what the README configuration table documents, variable for variable', () => {
    const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Production notes'));
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(EnvironmentSchema.properties).sort());
  });
});

describe('the entry point', () => {
  it('stops with exit code 2 and names the variable on a bad value', () => {
    const tsx = path.join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');
    const run = spawnSync(tsx, ['server/main.ts'], {
      cwd: path.join(import.meta.dirname, '..'),
      env: { PATH: process.env.PATH, PORT: '70000' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain('Invalid configuration: PORT must be between 0 and 65535, got 70000');
  });
});
