/**
 * The plain-WebSocket invigilator feed, `GET /api/exams/:id/feed`: authorization before the upgrade,
 * the roster first, then the same live events as the Socket.IO console (also for students on another
 * node), next to Socket.IO on the same port; and a reader that does not keep up is dropped.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { FEED_PROTOCOL, FEED_TOKEN_PROTOCOL_PREFIX, FeedHub } from '../server/realtime/feed.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type RosterRow } from '../server/protocol.js';
import { examBody, loginAs, seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { afterFile } from './helpers/db.js';
import { createExamVia, insertUser, sleep, tokensFor, waitFor, withTimeout } from './helpers/nodes.js';
import { connectSocket, ok, recordAll } from './helpers/sockets.js';

let a: TestApp;
let b: TestApp;
let examId: number;
let invigilatorToken: string;
let otherToken: string;
let adminToken: string;
const students = new Map<string, { id: number; token: string }>();
const email = (n: number) => `student${n}@example.com`;

interface FeedMessage {
  event: string;
  data: unknown;
}

const openFeeds = new Set<WebSocket>();
afterFile(async () => {
  for (const ws of openFeeds) ws.terminate();
});

/** Opens a feed; resolves once open, with every message it receives from the start; rejects with the HTTP status of a refusal. */
function openFeed(
  node: TestApp,
  id: number | string,
  auth: { header?: string; protocol?: string; query?: string; origin?: string } = {},
): Promise<{ ws: WebSocket; messages: FeedMessage[] }> {
  const url = `${node.url.replace('http', 'ws')}/api/exams/${id}/feed${auth.query ? `?token=${encodeURIComponent(auth.query)}` : ''}`;
  // A browser's way: the token as a second subprotocol next to the feed's own.
  const protocols = auth.protocol ? [FEED_PROTOCOL, `${FEED_TOKEN_PROTOCOL_PREFIX}${auth.protocol}`] : [];
  const headers: Record<string, string> = {};
  if (auth.header) headers.authorization = `Bearer ${auth.header}`;
  if (auth.origin) headers.origin = auth.origin;
  const ws = new WebSocket(url, protocols, { headers });
  openFeeds.add(ws);
  const messages: FeedMessage[] = [];
  ws.on('message', (raw) => messages.push(JSON.parse(String(raw)) as FeedMessage));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      const err = Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode });
      res.resume();
      ws.terminate();
      reject(err);
    });
    ws.once('error', reject);
  });
}

async function refusal(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    return (err as { statusCode?: number }).statusCode ?? -1;
  }
  throw new Error('the feed was opened');
}

beforeAll(async () => {
  [a, b] = (await startCluster(2)) as [TestApp, TestApp];
  examId = (await seed(a.app, 4)).examId;
  invigilatorToken = await loginAs(b.app, 'invigilator@example.com');
  adminToken = await loginAs(b.app, 'admin@example.com');
  await insertUser(a.databaseUrl, { email: 'feed.other@example.com', name: 'Other', role: 'invigilator', password: 'other-pass-1' });
  otherToken = await loginAs(b.app, 'feed.other@example.com', 'other-pass-1');
  // The other invigilator has an exam of their own.
  await createExamVia(a, adminToken, examBody(2, 1), { invigilators: ['feed.other@example.com'] });
  for (const [k, v] of await tokensFor(a, [email(1), email(2), email(3), email(4)])) students.set(k, v);
});

describe('feed: authorization (before the upgrade)', () => {
  it('refuses a student token (403), no token (401), a bad token (401), an unassigned invigilator (403)', async () => {
    expect(await refusal(openFeed(b, examId, { header: students.get(email(1))!.token }))).toBe(403);
    expect(await refusal(openFeed(b, examId, { protocol: students.get(email(1))!.token }))).toBe(403);
    expect(await refusal(openFeed(b, examId))).toBe(401);
    expect(await refusal(openFeed(b, examId, { header: 'garbage' }))).toBe(401);
    expect(await refusal(openFeed(b, examId, { protocol: invigilatorToken.slice(0, -2) + 'xx' }))).toBe(401);
    expect(await refusal(openFeed(b, examId, { header: otherToken }))).toBe(403);
    expect(await refusal(openFeed(b, examId, { protocol: otherToken }))).toBe(403);
  });

  it('refuses a token in the URL (proxies and logs keep URLs), even a valid one', async () => {
    expect(await refusal(openFeed(b, examId, { query: invigilatorToken }))).toBe(401);
  });

  it("refuses a browser on another site (Origin), like Socket.IO's handshake; the server's own origin is fine", async () => {
    expect(await refusal(openFeed(b, examId, { protocol: invigilatorToken, origin: 'https://evil.example' }))).toBe(403);
    const { ws } = await openFeed(b, examId, { protocol: invigilatorToken, origin: b.url });
    expect(ws.protocol).toBe(FEED_PROTOCOL);
    ws.close();
  });

  it('accepts the assigned invigilator by header or by subprotocol, and an admin; roster first', async () => {
    for (const auth of [{ header: invigilatorToken }, { protocol: invigilatorToken }, { protocol: adminToken }]) {
      const { ws, messages } = await openFeed(b, examId, auth);
      await waitFor('the roster', () => messages.length >= 1);
      expect(messages[0]!.event).toBe('roster');
      const roster = messages[0]!.data as RosterRow[];
      expect(roster).toHaveLength(4);
      expect(roster.map((r) => r.student.id).sort((x, y) => x - y)).toEqual([1, 2, 3, 4].map((n) => students.get(email(n))!.id).sort((x, y) => x - y));
      ws.close();
    }
  });
});

describe('feed: live events', () => {
  it('sends the same events as the Socket.IO console, for a student on another node', async () => {
    const feed = await openFeed(b, examId, { header: invigilatorToken });
    await waitFor('the roster', () => feed.messages.length >= 1);
    const inv = await connectSocket(b.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    await ok(inv, INVIGILATOR_EVENTS.watch, { examId });
    const consoleEvents = recordAll(inv);

    const student = await connectSocket(a.url, EXAM_NAMESPACE, students.get(email(1))!.token);
    const started = await ok(student, EXAM_EVENTS.start, { examId });
    const attemptId = started.attempt.id;
    const q = started.exam.sections[0]!.questions[0]!;
    await ok(student, EXAM_EVENTS.answer, { attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    await ok(student, EXAM_EVENTS.proctor, { attemptId, type: 'visibility_hidden', detail: { ms: 900 } });
    await ok(student, EXAM_EVENTS.submit, { attemptId });

    const has = (m: FeedMessage[], event: string, match: (d: Record<string, unknown>) => boolean) =>
      m.some((x) => x.event === event && [x.data].flat().some((d) => match(d as Record<string, unknown>)));
    await waitFor('every kind of event on the feed', () =>
      has(feed.messages, 'roster:update', (d) => d.attemptId === attemptId && d.answered === 1) &&
      has(feed.messages, 'roster:update', (d) => d.attemptId === attemptId && d.connected === true) &&
      has(feed.messages, 'proctor:event', (d) => d.attemptId === attemptId && d.type === 'visibility_hidden') &&
      has(feed.messages, 'attempt:ended', (d) => d.attemptId === attemptId && d.status === 'submitted') &&
      has(feed.messages, 'roster:update', (d) => d.attemptId === attemptId && d.status === 'submitted'),
    );
    const proctor = feed.messages.find((m) => m.event === 'proctor:event')!.data as Record<string, unknown>;
    expect(proctor).toMatchObject({ attemptId, type: 'visibility_hidden', detail: { ms: 900 } });
    expect(Number.isNaN(Date.parse(proctor.at as string))).toBe(false);
    expect(feed.messages.find((m) => m.event === 'attempt:ended')!.data).toEqual({ examId, attemptId, status: 'submitted', reason: 'submitted' });

    // Same events, same payloads, same order as the console got.
    await sleep(300);
    const fromConsole = consoleEvents.map(({ event, args }) => ({ event, data: args[0] }));
    expect(feed.messages.slice(1)).toEqual(fromConsole);
    // At least: roster rows (connected and started travel in one message when within 25 ms of each
    // other), progress, the proctor event, the end.
    expect(fromConsole.length).toBeGreaterThanOrEqual(4);
  });

  it('sends the roster first even when live events race the snapshot', async () => {
    // Slow the snapshot down on node B, and make events happen meanwhile.
    const { invigilation } = b.app;
    const original = invigilation.roster.bind(invigilation);
    const spy = vi.spyOn(invigilation, 'roster').mockImplementation(async (id: number) => {
      const rows = await original(id);
      await sleep(600);
      return rows;
    });
    try {
      const student = await connectSocket(a.url, EXAM_NAMESPACE, students.get(email(2))!.token);
      const started = await ok(student, EXAM_EVENTS.start, { examId });
      const pending = openFeed(b, examId, { header: invigilatorToken });
      await waitFor('the snapshot to be under way', () => spy.mock.calls.length > 0);
      await ok(student, EXAM_EVENTS.proctor, { attemptId: started.attempt.id, type: 'paste' });
      const feed = await pending;
      await waitFor('the roster and the event', () => feed.messages.length >= 2, 5000);
      expect(feed.messages[0]!.event).toBe('roster');
      expect(feed.messages.slice(1).some((m) => m.event === 'proctor:event')).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('leaves Socket.IO working on the same server', async () => {
    const feed = await openFeed(b, examId, { protocol: invigilatorToken });
    const student = await connectSocket(b.url, EXAM_NAMESPACE, students.get(email(3))!.token);
    const started = await ok(student, EXAM_EVENTS.start, { examId });
    expect(started.attempt.status).toBe('in_progress');
    await waitFor('the start on the feed', () =>
      feed.messages.some((m) => m.event === 'roster:update' && [m.data].flat().some((d) => (d as { attemptId?: number }).attemptId === started.attempt.id)),
    );
    expect(feed.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('FeedHub: a reader that does not keep up', () => {
  it('is closed (1013) once it is maxBufferedBytes behind, instead of being buffered without bound; a fast reader is not', async () => {
    const MAX = 256 * 1024;
    const log = { warn: vi.fn(), info: vi.fn(), error: vi.fn(), debug: vi.fn() } as unknown as FastifyBaseLogger;
    const hub = new FeedHub(log, MAX);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    afterFile(async () => {
      // `close()` waits for the HTTP server, which waits for its connections: end them first.
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    const serverSide: WebSocket[] = [];
    wss.on('connection', (ws) => {
      serverSide.push(ws);
      hub.add(7, ws);
    });
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const connect = async () => {
      const ws = new WebSocket(url);
      openFeeds.add(ws);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      return ws;
    };
    const slow = await connect();
    const fast = await connect();
    await waitFor('both registered', () => hub.size === 2);
    const [slowServer, fastServer] = serverSide as [WebSocket, WebSocket];
    const closeSpy = vi.spyOn(slowServer, 'close');
    let fastReceived = 0;
    fast.on('message', () => fastReceived++);
    // The slow reader stops reading: the kernel buffers fill, then the server's own buffer grows.
    slow.pause();

    const chunk = 'x'.repeat(32 * 1024);
    const flag = (n: number) =>
      ({
        examId: 7,
        event: 'proctor:event',
        payload: { examId: 7, attemptId: 1, student: { id: 1 }, type: 'paste', detail: { chunk, n }, at: new Date().toISOString() },
      }) as const;
    let sent = 0;
    let maxBuffered = 0;
    await withTimeout(
      (async () => {
        while (slowServer.readyState === WebSocket.OPEN && sent < 4000) {
          hub.deliver(flag(sent++));
          maxBuffered = Math.max(maxBuffered, slowServer.bufferedAmount);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })(),
      25_000,
      'the slow reader to be dropped',
    );
    expect(slowServer.readyState).not.toBe(WebSocket.OPEN);
    expect(closeSpy).toHaveBeenCalledWith(1013, expect.any(String));
    // Bounded: never more than the limit plus one message behind.
    expect(maxBuffered).toBeLessThanOrEqual(MAX + chunk.length + 1024);
    expect(log.warn).toHaveBeenCalled();
    await waitFor('the hub forgot the slow reader', () => hub.size === 1);
    // The fast reader is still there and got everything.
    expect(fastServer.readyState).toBe(WebSocket.OPEN);
    await waitFor('the fast reader caught up', () => fastReceived === sent, 10_000);
    // Later events go to the fast reader only, without error.
    hub.deliver(flag(-1));
    await waitFor('one more', () => fastReceived === sent + 1);
  });
});
