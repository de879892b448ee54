import type { Socket as TcpSocket } from 'node:net';
import type { Socket } from 'socket.io-client';
import type { Role } from '../../entities/user.js';
import { hashPassword } from '../../server/auth/passwords.js';
import type { ExamAdminView } from '../../server/exam/authoring.js';
import { INVIGILATOR_EVENTS, type CreateExamBody, type RosterUpdate } from '../../server/protocol.js';
import { bearer, type TestApp, type TestAppOptions } from './app.js';
import { startCluster } from './cluster.js';
import { sql } from './pg.js';
import type { EventPayload, EventsOf, InvigilatorClientSocket, NamespaceSocket } from './sockets.js';

// ---------------------------------------------------------------------------------------------
// Nodes whose TCP connections we can cut (an abrupt crash, as the clients see it)

const tracked = new WeakMap<TestApp, Set<TcpSocket>>();

/** Starts remembering every TCP connection the node's HTTP server accepts (call before clients connect). */
export function trackConnections(node: TestApp): void {
  if (tracked.has(node)) return;
  const sockets = new Set<TcpSocket>();
  tracked.set(node, sockets);
  node.app.server.on('connection', (socket: TcpSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
}

/** {@link startCluster}, with every node's TCP connections tracked from the start (for {@link crashNode}). */
export async function startTrackedCluster(n: number, opts: Omit<TestAppOptions, 'databaseUrl' | 'redis'> = {}): Promise<TestApp[]> {
  const nodes = await startCluster(n, opts);
  for (const node of nodes) trackConnections(node);
  return nodes;
}

/**
 * "Crashes" a node without killing the test process: its Redis clients are dropped without any cleanup
 * (so it can neither beat its presence heartbeat nor remove its presence entries, nor publish or hear
 * fan-out), and every TCP connection of its HTTP server is destroyed (clients see a transport error, not a
 * clean server disconnect). The node's database pool stays; `app.close()` must still finish afterwards.
 */
export function crashNode(node: TestApp): { connectionsCut: number } {
  const { app } = node;
  app.redis?.disconnect();
  app.fanout?.pub.disconnect();
  app.fanout?.sub.disconnect();
  const sockets = tracked.get(node);
  if (!sockets) throw new Error('crashNode: call trackConnections(node) (or startTrackedCluster) before clients connect');
  const connectionsCut = sockets.size;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  return { connectionsCut };
}

// ---------------------------------------------------------------------------------------------
// Users and exams

/** Inserts a user straight into the database (there is no user-creation API). Returns its id. */
export async function insertUser(
  databaseUrl: string,
  user: { email: string; name: string; role: Role; password: string },
): Promise<number> {
  const [row] = await sql<{ id: number }>(
    databaseUrl,
    `insert into users (email, name, role, password_hash, created_at) values ($1, $2, $3, $4, now()) returning id`,
    [user.email.toLowerCase(), user.name, user.role, await hashPassword(user.password)],
  );
  return row!.id;
}

/** Inserts `n` students in one statement (one shared password hash); returns them in id order. */
export async function insertStudents(
  databaseUrl: string,
  n: number,
  tag: string,
  password = 'demo1234',
): Promise<{ id: number; email: string; name: string }[]> {
  return sql<{ id: number; email: string; name: string }>(
    databaseUrl,
    `insert into users (email, name, role, password_hash, created_at)
     select $1 || '-' || g || '@example.com', 'Bulk ' || $1 || ' ' || lpad(g::text, 4, '0'), 'student', $2, now()
     from generate_series(1, $3::int) g
     returning id, email, name`,
    [tag, await hashPassword(password), n],
  );
}

/**
 * Creates, publishes and staffs an exam through the real admin routes: POST, publish, PUT enrollments,
 * PUT invigilators. Returns the admin view (with the key).
 */
export async function createExamVia(
  node: TestApp,
  adminToken: string,
  body: CreateExamBody,
  setup: { students?: string[]; invigilators?: string[]; publish?: boolean } = {},
): Promise<ExamAdminView> {
  const { app } = node;
  const headers = bearer(adminToken);
  const created = await app.inject({ method: 'POST', url: '/api/exams', headers, payload: body });
  if (created.statusCode !== 201) throw new Error(`create exam: ${created.statusCode} ${created.body}`);
  const exam = created.json<ExamAdminView>();
  if (setup.publish ?? true) {
    const res = await app.inject({ method: 'POST', url: `/api/exams/${exam.id}/publish`, headers });
    if (res.statusCode !== 200) throw new Error(`publish: ${res.statusCode} ${res.body}`);
  }
  if (setup.students) {
    const res = await app.inject({
      method: 'PUT',
      url: `/api/exams/${exam.id}/enrollments`,
      headers,
      payload: { enrollments: setup.students.map((email) => ({ email })) },
    });
    if (res.statusCode !== 200) throw new Error(`enroll: ${res.statusCode} ${res.body}`);
  }
  if (setup.invigilators) {
    const res = await app.inject({ method: 'PUT', url: `/api/exams/${exam.id}/invigilators`, headers, payload: { emails: setup.invigilators } });
    if (res.statusCode !== 200) throw new Error(`invigilators: ${res.statusCode} ${res.body}`);
  }
  return exam;
}

// ---------------------------------------------------------------------------------------------
// Watching what a socket receives

export const asList = (u: RosterUpdate | RosterUpdate[]): RosterUpdate[] => (Array.isArray(u) ? u : [u]);

export interface Received<T> {
  at: number;
  payload: T;
}

/** Records every `event` the socket receives from now on, with its arrival time (payloads typed by the namespace's map). */
export function collect<S extends NamespaceSocket, E extends keyof EventsOf<S>>(socket: S, event: E): Received<EventPayload<EventsOf<S>[E]>>[];
// The implementation listens on the untyped view of the socket; the signature above is what callers see.
export function collect<P>(socket: Socket, event: string): Received<P>[] {
  const seen: Received<P>[] = [];
  socket.on(event, (payload: P) => seen.push({ at: Date.now(), payload }));
  return seen;
}

/** Every roster row update the socket receives from now on, flattened, with arrival times. */
export function collectRoster(socket: InvigilatorClientSocket): Received<RosterUpdate>[] {
  const rows: Received<RosterUpdate>[] = [];
  socket.on(INVIGILATOR_EVENTS.rosterUpdate, (u) => {
    const at = Date.now();
    for (const payload of asList(u)) rows.push({ at, payload });
  });
  return rows;
}

/** Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws, naming `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 25): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` takes longer than `ms` (so a hang fails a test instead of the whole file). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Tokens for users by e-mail, issued by the app's own token service (no login round trip, no scrypt per
 * user): one query for all of them. Throws for an unknown e-mail.
 */
export async function tokensFor(node: TestApp, emails: string[]): Promise<Map<string, { id: number; token: string }>> {
  const rows = await sql<{ id: number; email: string; name: string; role: Role }>(
    node.databaseUrl,
    'select id, email, name, role from users where email = any($1::text[])',
    [emails],
  );
  const out = new Map(rows.map((u) => [u.email, { id: u.id, token: node.app.tokens.issue({ sub: u.id, role: u.role, name: u.name }) }]));
  const missing = emails.filter((e) => !out.has(e));
  if (missing.length) throw new Error(`tokensFor: no user ${missing.join(', ')}`);
  return out;
}
