import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import net from 'node:net';
import { stripVTControlCharacters } from 'node:util';
import { setupMaster, setupWorker } from '@socket.io/sticky';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { User } from '../entities/user.js';
import { buildApp } from './app.js';
import { ConfigError, type Config } from './config.js';
import { openDatabase } from './db/orm.js';
import { seedDemo } from './exam/demo-data.js';
import { DRAIN_TIMEOUT_MS, drainOnSignals, modeFields } from './serve.js';

/**
 * Cluster mode on one machine (`WORKERS=N` or `--workers N`, N > 1).
 *
 * The primary runs the migrations and the demo seed once, forks N workers and owns the port; each
 * connection goes through `@socket.io/sticky` (set up on a plain HTTP server) to a worker: a request
 * naming a Socket.IO session to the worker that holds it, so long-polling stays sticky; anything else,
 * plain HTTP included, to the worker with the fewest Socket.IO clients (see {@link StickyFront}).
 * Workers never listen; they build the app and serve what the primary passes them. Events fan out
 * between workers through Redis (the Socket.IO Redis adapter, `REDIS_URL`).
 */

/** Primary: longest it waits for the workers to drain on SIGTERM/SIGINT before it kills them. */
export const CLUSTER_SHUTDOWN_TIMEOUT_MS = DRAIN_TIMEOUT_MS + 5_000;
/** Primary: a worker crashing this many times within {@link CRASH_WINDOW_MS} stops the cluster. */
export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 60_000;
/** Restart back-off: 0.5 s after the first crash in the window, doubling, at most 10 s. */
const restartDelayMs = (crashesInWindow: number) => Math.min(500 * 2 ** (crashesInWindow - 1), 10_000);

/** Worker -> primary: the app is built and `setupWorker` is installed; route connections here. */
const READY_MESSAGE = 'exam:worker-ready';
/** Worker: longest it waits for its own /readyz to pass before it reports ready anyway. */
const READY_WAIT_MS = 5_000;
/** Primary: connections held while no worker is ready, at most this many, each at most this long. */
const MAX_HELD_CONNECTIONS = 1_000;
const HOLD_TIMEOUT_MS = 15_000;
/** Primary: longest a request naming a session the primary does not know yet waits for it. */
const SESSION_WAIT_MS = 1_000;
/** Primary: a connection must send its first bytes within this (Node's default `headersTimeout`). */
const FIRST_CHUNK_TIMEOUT_MS = 60_000;
/**
 * Primary: a connection it relays (a request with a body) is closed after this long idle. (Workers
 * never listen, so Node's HTTP request and headers timeouts do not run there.)
 */
const RELAY_IDLE_TIMEOUT_MS = 120_000;
/** What a held connection gets when no worker becomes ready in time (the contract's error shape). */
const UNAVAILABLE_BODY = JSON.stringify({
  error: { code: 'UNAVAILABLE', message: 'No server worker is ready; retry shortly', retryAfterMs: 1000 },
});
const UNAVAILABLE_RESPONSE =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
  `Retry-After: 1\r\nContent-Length: ${Buffer.byteLength(UNAVAILABLE_BODY)}\r\n\r\n${UNAVAILABLE_BODY}`;

/** `WORKERS > 1` needs a shared database server and Redis; throws the {@link ConfigError} naming what is missing. */
export function checkClusterConfig(config: Config): void {
  if (config.workers <= 1) return;
  if (!config.databaseUrl) {
    throw new ConfigError(
      'DATABASE_URL',
      `is required in cluster mode (WORKERS or --workers above 1, here ${config.workers}): the embedded PGlite database serves one process`,
    );
  }
  if (!config.redisUrl) {
    throw new ConfigError(
      'REDIS_URL',
      `is required in cluster mode (WORKERS or --workers above 1, here ${config.workers}): events fan out between the worker processes through Redis`,
    );
  }
}

/**
 * The primary's logger: the same pino configuration as the app's (JSON lines, `LOG_LEVEL`), from a
 * Fastify instance that never serves anything (pino is Fastify's dependency, not ours).
 */
function primaryLogger(config: Config): FastifyBaseLogger {
  return Fastify({ logger: { level: config.logLevel } }).log.child({ role: 'primary' });
}

/** Migrations (and the demo seed of an empty database), once, before any worker starts. */
async function prepareDatabase(config: Config, log: FastifyBaseLogger): Promise<void> {
  const orm = await openDatabase({
    clientUrl: config.databaseUrl!,
    pool: { min: 0, max: 1, idleTimeoutMs: 10_000 },
    log: (message) => log.info({ orm: true }, stripVTControlCharacters(message)),
  });
  try {
    if (config.seedOnStart && (await orm.em.fork().count(User)) === 0) {
      const result = await seedDemo(orm.em.fork(), { students: config.seedStudents, password: config.demoPassword });
      log.info(result, 'seeded the demo data (empty database)');
    }
  } finally {
    await orm.close();
  }
}

function aliveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
}

/** What `@socket.io/sticky` keeps on each worker for `least-connection`: its number of Socket.IO clients. */
type BalancedWorker = Worker & { clientsCount?: number };

/** Sticky's test of a first chunk: the Engine.IO session id in the request line or headers. */
const SID = /sid=([\w-]{20})/;

/** The request head of a first chunk, cut as sticky cuts it. */
function headOf(firstChunk: Buffer): string {
  return firstChunk.subarray(0, firstChunk.indexOf('\r\n\r\n')).toString();
}

/**
 * Whether sticky keeps this connection in the primary and relays it over IPC (its head announces a
 * body), rather than passing the socket itself to the worker. Sticky's own test.
 */
function stickyRelays(head: string): boolean {
  const lower = head.toLowerCase();
  return lower.includes('content-length:') || lower.includes('transfer-encoding:');
}

/**
 * Stops the primary reading a socket whose handle sticky will pass to a worker. Node closes the
 * primary's copy of a passed handle only once the worker acknowledges it, and until then that copy
 * keeps reading, into a no-op: bytes the client sends in that window are lost. A WebSocket client
 * sends its first frame (its Socket.IO CONNECT) as soon as it has the 101 and Engine.IO's `open`, so
 * without this about one WebSocket connection in 50 hung on a loaded 2-core machine.
 */
function stopReading(socket: net.Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } | null })._handle;
  if (handle?.readStop) {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * The primary's front: owns the port and hands each connection to `@socket.io/sticky`, with three
 * repairs around it:
 * - a request naming an Engine.IO session the primary has not heard of yet waits (briefly) for it.
 *   The worker answers the handshake to the client directly but tells the primary about the new
 *   session over IPC; the client's next request can win that race, and sticky then sends it to any
 *   worker, which answers 400 "Session ID unknown" (seen on about 1 polling connection in 300);
 * - the socket sticky passes to a worker is no longer read in the primary (see {@link stopReading});
 * - while no worker is ready (all booting or restarting), connections wait instead of being refused.
 * Sticky reads the first chunk of a connection to choose; here the front reads it first and gives it
 * to sticky's listener itself once the connection may go.
 */
class StickyFront {
  readonly listener = net.createServer((socket) => this.accept(socket));
  /**
   * The plain HTTP server sticky is set up on. It never listens, `listener` feeds it (so its HTTP
   * parser, which never sees a byte, never times a relayed request out either).
   */
  private readonly router = http.createServer();
  /** Engine.IO session id -> worker id, as sticky learns them (its own map is private). */
  private readonly sessions = new Map<string, number>();
  private readonly awaiting = new Map<string, Set<() => void>>();
  /** Connections that came while no worker was ready, with their deadline. */
  private readonly held = new Map<net.Socket, { timer: NodeJS.Timeout; go: () => void }>();
  private readyWorkers = 0;

  constructor() {
    setupMaster(this.router, { loadBalancingMethod: 'least-connection' });
    // A client error on a connection sticky relays (a request with a body stays in the primary) ends
    // that connection; no 400 written into the middle of a worker's response.
    this.router.on('clientError', (_err, socket) => socket.destroy());
    cluster.on('message', (worker, message: { type?: unknown; data?: unknown } | null) => {
      const sid = message?.data;
      if (typeof sid !== 'string') return;
      if (message?.type === 'sticky:connection') {
        this.sessions.set(sid, worker.id);
        const waiting = this.awaiting.get(sid);
        this.awaiting.delete(sid);
        for (const go of waiting ?? []) go();
      } else if (message?.type === 'sticky:disconnection') {
        this.sessions.delete(sid);
      }
    });
  }

  /** How many workers take connections now; from 0 to more, the held connections go. */
  setReadyWorkers(count: number): void {
    this.readyWorkers = count;
    if (count === 0) return;
    for (const [socket, { timer, go }] of [...this.held]) {
      clearTimeout(timer);
      this.held.delete(socket);
      go();
    }
  }

  workerExited(workerId: number): void {
    for (const [sid, id] of this.sessions) if (id === workerId) this.sessions.delete(sid);
  }

  /** Stops accepting; held connections get a 503. */
  close(): void {
    if (this.listener.listening) this.listener.close();
    for (const socket of [...this.held.keys()]) this.refuse(socket);
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    // Sticky chooses nothing before a first chunk; neither does a silent connection get to stay.
    socket.setTimeout(FIRST_CHUNK_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      const head = headOf(first);
      const relayed = stickyRelays(head);
      // A relayed connection's request and response go through the primary: time it out when idle.
      socket.setTimeout(relayed ? RELAY_IDLE_TIMEOUT_MS : 0);
      if (!relayed) stopReading(socket);
      const go = () => this.dispatch(socket, first, relayed);
      const sid = SID.exec(head)?.[1];
      if (sid !== undefined && !this.sessions.has(sid)) this.awaitSession(sid, go);
      else go();
    });
  }

  private awaitSession(sid: string, go: () => void): void {
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const waiting = this.awaiting.get(sid);
      waiting?.delete(once);
      if (waiting?.size === 0) this.awaiting.delete(sid);
      go();
    };
    // An unknown session that stays unknown (gone with its worker, or made up): sticky picks a
    // worker, which answers 400 and the client starts a new session.
    const timer = setTimeout(once, SESSION_WAIT_MS);
    const waiting = this.awaiting.get(sid) ?? new Set();
    waiting.add(once);
    this.awaiting.set(sid, waiting);
  }

  private dispatch(socket: net.Socket, first: Buffer, relayed: boolean): void {
    if (socket.destroyed) return;
    if (this.readyWorkers === 0) {
      this.hold(socket, () => this.dispatch(socket, first, relayed));
      return;
    }
    // The HTTP server's connection listeners, then sticky's, which replaces every `data` listener
    // with its own; it gets the first chunk as if it had just been read, and picks the worker.
    this.router.emit('connection', socket);
    socket.emit('data', first);
    // The rest of a relayed request (its body) follows through sticky's listener.
    if (relayed) socket.resume();
  }

  private hold(socket: net.Socket, go: () => void): void {
    if (this.held.size >= MAX_HELD_CONNECTIONS) {
      this.refuse(socket);
      return;
    }
    this.held.set(socket, { timer: setTimeout(() => this.refuse(socket), HOLD_TIMEOUT_MS), go });
    socket.once('close', () => {
      clearTimeout(this.held.get(socket)?.timer);
      this.held.delete(socket);
    });
  }

  private refuse(socket: net.Socket): void {
    clearTimeout(this.held.get(socket)?.timer);
    this.held.delete(socket);
    if (!socket.destroyed) socket.end(UNAVAILABLE_RESPONSE);
  }
}

export async function runPrimary(config: Config): Promise<void> {
  checkClusterConfig(config);
  const log = primaryLogger(config);
  if (config.jwtSecretGenerated) {
    log.warn(
      'JWT_SECRET is not set: generated a random one for this run, shared by its workers (tokens end with it). Set JWT_SECRET for anything beyond a trial.',
    );
  }

  await prepareDatabase(config, log);

  // Workers: their own migrations are a no-op now, they never seed, and they all sign with one secret.
  const workerEnv: Record<string, string> = { SEED_ON_START: 'false', WORKERS: String(config.workers) };
  if (config.jwtSecretGenerated) workerEnv.JWT_SECRET = config.jwtSecret;
  // Buffers (the request bytes sticky forwards) must survive IPC as Buffers, not JSON.
  cluster.setupPrimary({ serialization: 'advanced' });
  const front = new StickyFront();

  let stopping = false;
  let exitCode = 0;
  const crashes: number[] = [];
  const ready = new Set<number>();

  const fork = () => {
    const worker: BalancedWorker = cluster.fork(workerEnv);
    // Until it says it is ready, keep connections away from it: least-connection picks the worker
    // with the fewest Socket.IO clients, and a booting worker has none. (The front routes nothing
    // while no worker is ready, so a ready one is always there to pick instead.)
    worker.clientsCount = Number.POSITIVE_INFINITY;
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker forked');
    return worker;
  };

  const stop = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = Math.max(exitCode, code);
    const alive = aliveWorkers();
    log.info({ reason, workers: alive.length }, 'shutting down: stopped accepting, draining the workers');
    front.close();
    for (const worker of alive) worker.process.kill('SIGTERM');
    const force = setTimeout(() => {
      log.error(`workers did not exit within ${CLUSTER_SHUTDOWN_TIMEOUT_MS / 1000} s, killing them`);
      for (const worker of aliveWorkers()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, CLUSTER_SHUTDOWN_TIMEOUT_MS);
    force.unref();
    if (alive.length === 0) process.exit(exitCode);
  };

  let listening = false;
  cluster.on('message', (worker: BalancedWorker, message: { type?: unknown } | null) => {
    if (message?.type !== READY_MESSAGE || stopping) return;
    ready.add(worker.id);
    worker.clientsCount = 0;
    front.setReadyWorkers(ready.size);
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready');
    if (!listening && ready.size >= config.workers) {
      listening = true;
      front.listener.listen(config.port, config.host, () => {
        const address = front.listener.address() as net.AddressInfo;
        log.info(
          { ...modeFields(config), workers: config.workers, address: `http://${address.address}:${address.port}` },
          `mode: cluster of ${config.workers} workers, listening`,
        );
      });
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const wasReady = ready.delete(worker.id);
    front.setReadyWorkers(ready.size);
    front.workerExited(worker.id);
    if (stopping) {
      const clean = code === 0 || signal === 'SIGTERM' || signal === 'SIGINT';
      if (!clean) exitCode = 1;
      log.info({ worker: worker.id, code, signal }, 'worker exited');
      // (An exited worker may still be in cluster.workers until its IPC channel closes.)
      if (aliveWorkers().length === 0) {
        log.info({ exitCode }, 'all workers exited');
        process.exit(exitCode);
      }
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && crashes[0]! <= now - CRASH_WINDOW_MS) crashes.shift();
    if (crashes.length >= MAX_CRASHES) {
      log.fatal(
        { worker: worker.id, code, signal, crashes: crashes.length },
        `workers crashed ${crashes.length} times within ${CRASH_WINDOW_MS / 1000} s: giving up`,
      );
      stop('crash loop', 1);
      return;
    }
    const delay = restartDelayMs(crashes.length);
    log.error({ worker: worker.id, code, signal, wasReady, restartInMs: delay }, 'worker died, restarting it');
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  front.listener.on('error', (err) => {
    log.fatal({ err }, 'cannot listen');
    stop('listen error', 1);
  });
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGINT', () => stop('SIGINT', 0));

  for (let i = 0; i < config.workers; i++) fork();
}

/** A worker: build the app (no port of its own), then serve the connections the primary hands over. */
export async function runWorker(config: Config): Promise<void> {
  // Every line of the worker, request logs included, names it.
  const app = await buildApp(config, { logBindings: { worker: cluster.worker!.id } });
  drainOnSignals(app);
  setupWorker(app.io);
  // Ready for the primary means what it means for a load balancer: /readyz passes. (A fresh worker
  // has no Socket.IO clients, so least-connection sends it the next requests, /readyz included.)
  const deadline = Date.now() + READY_WAIT_MS;
  let readyz = await app.inject({ method: 'GET', url: '/readyz' });
  while (readyz.statusCode !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    readyz = await app.inject({ method: 'GET', url: '/readyz' });
  }
  if (readyz.statusCode !== 200) {
    app.log.warn({ readyz: readyz.body }, `/readyz still fails after ${READY_WAIT_MS / 1000} s; serving anyway`);
  }
  process.send!({ type: READY_MESSAGE });
  app.log.info('worker started');
}
