import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { authenticate, bearerToken } from '../auth/guard.js';
import type { InvigilationService } from '../exam/invigilation.js';
import { AppError } from '../errors.js';
import { IdParams, type InvigilatorDelivery } from '../protocol.js';
import { isOriginAllowed } from './origin.js';
import type { Presence } from './presence.js';
import { INVIGILATOR_ROLES, rosterWithPresence } from './invigilator-namespace.js';

const SOCKET_IO_PATH = '/socket.io/';

interface Viewer {
  id: number;
  role: string;
}

/** Unsent bytes a feed client may fall behind by before it is dropped. @default 1 MiB */
export const FEED_MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * The plain-WebSocket feeds of this node, by exam: each invigilator event is sent as one JSON text
 * message `{event, data}`. A reader that falls `maxBufferedBytes` behind is closed (1013, try again
 * later) instead of growing this process's memory.
 */
export class FeedHub {
  private readonly byExam = new Map<number, Set<WebSocket>>();

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly maxBufferedBytes = FEED_MAX_BUFFERED_BYTES,
  ) {}

  /** Who reads each feed, to revoke it when their assignment ends. */
  private readonly viewers = new Map<WebSocket, Viewer>();

  /** Readers registered with `hold` whose first message (the snapshot) is not sent yet: their live events, serialized, in order. */
  private readonly held = new Map<WebSocket, { messages: string[]; bytes: number }>();

  /**
   * Registers a reader of the exam's events. With `hold`, live events are queued (bounded like the send
   * buffer) until {@link release} sends the snapshot, so that the snapshot is always the first message
   * and no event between the registration and the snapshot is lost.
   */
  add(examId: number, ws: WebSocket, opts: { hold?: boolean; viewer?: Viewer } = {}): void {
    const set = this.byExam.get(examId) ?? new Set();
    set.add(ws);
    this.byExam.set(examId, set);
    if (opts.hold) this.held.set(ws, { messages: [], bytes: 0 });
    if (opts.viewer) this.viewers.set(ws, opts.viewer);
    ws.on('close', () => {
      this.held.delete(ws);
      this.viewers.delete(ws);
      set.delete(ws);
      if (set.size === 0) this.byExam.delete(examId);
    });
  }

  /** The exams with at least one feed on this node. */
  watchedExams(): number[] {
    return [...this.byExam.keys()];
  }

  /** Closes the feeds of invigilators no longer assigned to the exam (admins keep theirs). */
  revoke(examId: number, assigned: ReadonlySet<number>): void {
    for (const ws of this.byExam.get(examId) ?? []) {
      const viewer = this.viewers.get(ws);
      if (viewer && viewer.role !== 'admin' && !assigned.has(viewer.id)) ws.close(1008, 'no longer assigned to this exam');
    }
  }

  /** Sends the first message of a held reader, then the live events queued meanwhile. */
  release(ws: WebSocket, event: string, data: unknown): void {
    const queue = this.held.get(ws);
    this.held.delete(ws);
    this.send(ws, event, data);
    for (const message of queue?.messages ?? []) this.sendRaw(ws, message);
  }

  send(ws: WebSocket, event: string, data: unknown): void {
    const message = JSON.stringify({ event, data });
    const queue = this.held.get(ws);
    if (!queue) return this.sendRaw(ws, message);
    queue.messages.push(message);
    queue.bytes += Buffer.byteLength(message);
    if (queue.bytes > this.maxBufferedBytes) this.drop(ws, queue.bytes);
  }

  private sendRaw(ws: WebSocket, message: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.maxBufferedBytes) return this.drop(ws, ws.bufferedAmount);
    ws.send(message);
  }

  private drop(ws: WebSocket, buffered: number): void {
    this.held.delete(ws);
    this.log.warn({ buffered }, 'feed: dropping a reader that does not keep up');
    ws.close(1013, 'slow consumer');
    ws.terminate();
  }

  deliver(d: InvigilatorDelivery): void {
    const set = this.byExam.get(d.examId);
    if (!set) return;
    for (const ws of set) this.send(ws, d.event, d.payload);
  }

  get size(): number {
    let n = 0;
    for (const set of this.byExam.values()) n += set.size;
    return n;
  }

  closeAll(): void {
    for (const set of this.byExam.values()) for (const ws of set) ws.close(1001, 'server shutting down');
  }
}

/** The subprotocol a feed client offers, and the server selects (RFC 6455 `Sec-WebSocket-Protocol`). */
export const FEED_PROTOCOL = 'exam-feed';
/** A browser cannot set headers on a WebSocket: it offers its token as a second subprotocol, `bearer.<jwt>`. */
export const FEED_TOKEN_PROTOCOL_PREFIX = 'bearer.';

/** The subprotocols a client offered, in order. */
function offeredProtocols(request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol'];
  return (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((p) => p.trim()).filter(Boolean);
}

/**
 * The token from `Authorization: Bearer`, or from a `bearer.<jwt>` subprotocol. Never from the URL:
 * proxies and access logs keep URLs, so a token there would outlive the request.
 */
function feedToken(request: FastifyRequest): string | undefined {
  const fromHeader = bearerToken(request);
  if (fromHeader) return fromHeader;
  const offered = offeredProtocols(request).find((p) => p.startsWith(FEED_TOKEN_PROTOCOL_PREFIX));
  return offered?.slice(FEED_TOKEN_PROTOCOL_PREFIX.length) || undefined;
}

/**
 * `GET /api/exams/:id/feed` (WebSocket upgrade): the invigilator events of one exam, read-only, for
 * tools that do not speak Socket.IO. Same authorization as `/invigilator` (checked before the upgrade:
 * 401/403 are plain HTTP answers); first message `{event: 'roster', data: [...]}`, then live events.
 */
export async function registerFeedRoute(
  app: FastifyInstance,
  deps: { hub: FeedHub; invigilation: InvigilationService; presence: Presence; allowedOrigins: readonly string[] },
): Promise<void> {
  // @fastify/websocket routes every upgrade through Fastify (a 404 for Socket.IO's path would destroy
  // it), so it only hears upgrades that are not Socket.IO's; engine.io takes those (destroyUpgrade: false).
  const upgrades = new EventEmitter();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!req.url?.startsWith(SOCKET_IO_PATH)) upgrades.emit('upgrade', req, socket, head);
  });
  await app.register(websocket, {
    options: {
      maxPayload: 1024,
      server: upgrades as unknown as Server,
      // Answer with our protocol name when offered (a browser that offered subprotocols requires one
      // back); never echo the token protocol.
      handleProtocols: (protocols) => (protocols.has(FEED_PROTOCOL) ? FEED_PROTOCOL : false),
    },
  });
  app.route({
    method: 'GET',
    url: '/api/exams/:id/feed',
    schema: { params: IdParams },
    preHandler: async (request) => {
      // The same rule as Socket.IO's handshake: a browser on another site may not open the feed.
      if (!isOriginAllowed(request.raw, deps.allowedOrigins)) throw new AppError('FORBIDDEN', 'Origin not allowed');
      if (typeof (request.query as { token?: unknown } | undefined)?.token === 'string') {
        throw new AppError('UNAUTHORIZED', 'Send the token as Authorization: Bearer or a bearer.<jwt> subprotocol, never in the URL');
      }
      const user = authenticate(app.tokens, feedToken(request), INVIGILATOR_ROLES);
      await deps.invigilation.authorizeExam(user, (request.params as { id: number }).id);
      request.user = user;
    },
    // A plain GET (no upgrade) that passed the checks above: told so in the contract's error shape
    // (426 Upgrade Required), instead of @fastify/websocket's bodiless 404.
    handler: async (_request, reply) =>
      reply
        .status(426)
        .header('upgrade', 'websocket')
        .send({ error: { code: 'VALIDATION', message: 'This is a WebSocket feed: open it with a WebSocket upgrade' } }),
    wsHandler: async (socket, request) => {
      const examId = (request.params as { id: number }).id;
      // Read-only: whatever a client sends is ignored.
      socket.on('message', () => undefined);
      // Registered before the snapshot (no event is missed), held until it is sent (the roster comes first).
      deps.hub.add(examId, socket, { hold: true, viewer: request.user ?? undefined });
      try {
        deps.hub.release(socket, 'roster', await rosterWithPresence(deps, examId));
      } catch (err) {
        request.log.warn({ err }, 'feed: roster snapshot failed');
        socket.close(1011, 'roster unavailable');
      }
    },
  });
}
