import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAM_EVENTS, EXAM_NAMESPACE } from '../server/protocol.js';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { deleteKeysWithPrefix } from '../server/cache/redis.js';
import { TEST_REDIS_URL, afterFile, createTestDatabase } from './helpers/db.js';
import { connectSocket, ok, type StudentSocket } from './helpers/sockets.js';

/**
 * Cluster mode end to end: the real server (`node --import tsx server/main.ts`) as a child process with
 * WORKERS=2, one port, sticky sessions. What crosses workers through Redis (the adapter) is tested
 * elsewhere; here: the primary starts two workers, serves plain HTTP and Socket.IO over WebSocket and
 * over long-polling only (which breaks without sticky routing), restarts a worker that dies, and
 * drains and exits 0 on SIGTERM.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const STUDENTS = 4;

type LogLine = Record<string, unknown> & { msg?: string };

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('cluster mode (WORKERS=2)', () => {
  let child: ChildProcess;
  let url: string;
  let output = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let examId: number;
  const tokens: string[] = [];

  const logLines = (): LogLine[] =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as LogLine;
        } catch {
          return {};
        }
      });
  const logged = (msg: string) => logLines().filter((l) => l.msg === msg);
  const tail = () =>
    output
      .split('\n')
      .filter((l) => !l.includes('"orm":true'))
      .slice(-40)
      .join('\n');
  /** `promise`, or a failure naming `what` (with the server's last lines) after `ms`. */
  const within = <T>(what: string, promise: Promise<T>, ms = 10_000): Promise<T> =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms; the server's last lines:\n${tail()}`)), ms)),
    ]);
  const login = async (email: string) => {
    const res = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'demo1234' }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };

  beforeAll(async () => {
    const db = await createTestDatabase();
    const prefix = `test-${randomBytes(4).toString('hex')}:`;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        WORKERS: '2',
        HOST: '127.0.0.1',
        PORT: String(port),
        JWT_SECRET: TEST_JWT_SECRET,
        SEED_ON_START: 'true',
        SEED_STUDENTS: String(STUDENTS),
        LOG_LEVEL: 'info',
        DB_POOL_MIN: '0',
        DB_POOL_MAX: '4',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // If a test failed before SIGTERM: kill it (its workers exit when the primary's IPC channel closes).
    afterFile(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await deleteKeysWithPrefix(TEST_REDIS_URL, prefix);
    });

    let stopped = false;
    void exited.then(() => (stopped = true));
    await waitFor(
      'GET /readyz = 200',
      async () => {
        if (stopped) throw new Error(`the server exited during start-up:\n${output}`);
        try {
          const res = await fetch(`${url}/readyz`);
          return res.status === 200 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      50_000,
    );
  });

  it('starts two workers behind one port and logs it', () => {
    const ready = logged('worker ready');
    expect(new Set(ready.map((l) => l.worker))).toEqual(new Set([1, 2]));
    expect(ready.every((l) => l.role === 'primary')).toBe(true);
    expect(logged('mode: cluster of 2 workers, listening')).toEqual([expect.objectContaining({ workers: 2, role: 'primary' })]);
    // Each worker names itself in its own lines, and they are two processes.
    const started = logged('worker started');
    expect(new Set(started.map((l) => l.worker))).toEqual(new Set([1, 2]));
    expect(new Set(started.map((l) => l.pid)).size).toBe(2);
    // The primary seeded once; the workers did not.
    expect(logged('seeded the demo data (empty database)')).toEqual([expect.objectContaining({ role: 'primary', usersCreated: STUDENTS + 2 })]);
  });

  it('serves plain HTTP through the sticky primary: logins (with a body) and GETs', async () => {
    for (let i = 1; i <= STUDENTS; i++) tokens.push(await login(`student${i}@example.com`));

    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 3 === 0 ? fetch(`${url}/healthz`) : fetch(`${url}/api/exams`, { headers: { authorization: `Bearer ${tokens[i % STUDENTS]}` } }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    const { exams } = (await responses[1]!.json()) as { exams: { id: number; title: string }[] };
    examId = exams.find((e) => e.title === 'Demo exam')!.id;
    expect(examId).toBeTypeOf('number');

    const missing = await fetch(`${url}/api/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });

    // Worker request logs carry the worker id.
    expect(logged('request completed').every((l) => l.worker === 1 || l.worker === 2)).toBe(true);
  });

  it('serves Socket.IO over WebSocket and over long-polling only (sticky sessions)', async () => {
    const sockets: { socket: StudentSocket; transport: 'websocket' | 'polling' }[] = [];
    for (let i = 0; i < STUDENTS; i++) {
      const transport = i % 2 === 0 ? 'websocket' : 'polling';
      const socket = await within(`connecting student ${i + 1} over ${transport}`, connectSocket(url, EXAM_NAMESPACE, tokens[i], { transports: [transport] }));
      sockets.push({ socket, transport });
    }
    for (const { socket, transport } of sockets) expect(socket.io.engine.transport.name).toBe(transport);

    const starts = await Promise.all(sockets.map(({ socket }) => ok(socket, EXAM_EVENTS.start, { examId })));
    for (const start of starts) {
      expect(start.attempt).toMatchObject({ id: expect.any(Number), status: 'in_progress' });
      expect(start.exam.sections.length).toBeGreaterThan(0);
    }
    expect(new Set(starts.map((s) => s.attempt.id)).size).toBe(STUDENTS);

    // Several round trips on each polling session: every request must reach the worker holding it.
    for (const [i, { socket }] of sockets.entries()) {
      const question = starts[i]!.exam.sections[0]!.questions[0]!;
      for (let seq = 1; seq <= 3; seq++) {
        const ack = await ok(socket, EXAM_EVENTS.answer, {
          attemptId: starts[i]!.attempt.id,
          questionId: question.id,
          optionId: question.options[seq % question.options.length]!.id,
          seq,
        });
        expect(ack.seq).toBe(seq);
      }
      const again = await ok(socket, EXAM_EVENTS.start, { examId });
      expect(again.attempt.id).toBe(starts[i]!.attempt.id);
      expect(again.answers).toEqual([expect.objectContaining({ questionId: question.id, seq: 3 })]);
    }
  });

  it('restarts a worker that dies, and keeps serving', async () => {
    const victim = logged('worker ready').find((l) => l.worker === 1)!;
    process.kill(victim.workerPid as number, 'SIGKILL');
    await waitFor('the restart', () => logged('worker died, restarting it').find((l) => l.worker === 1), 10_000);
    const replacement = await waitFor('a third worker ready', () => logged('worker ready').find((l) => l.worker === 3), 25_000);
    expect(replacement.workerPid).not.toBe(victim.workerPid);

    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await login('student1@example.com')).toBeTypeOf('string');
    const polling = await within('connecting over polling', connectSocket(url, EXAM_NAMESPACE, tokens[1], { transports: ['polling'] }));
    expect((await ok(polling, EXAM_EVENTS.start, { examId })).attempt.status).toBe('in_progress');
  }, 40_000);

  it('drains and exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    const result = await within('exit after SIGTERM', exited, 30_000);
    expect(result, `the server's last lines:\n${tail()}`).toEqual({ code: 0, signal: null });
    expect(logged('all workers exited')).toEqual([expect.objectContaining({ exitCode: 0 })]);
    expect(logged('shutting down: draining connections and buffers').map((l) => l.worker).sort()).toEqual([2, 3]);
  }, 40_000);
});
