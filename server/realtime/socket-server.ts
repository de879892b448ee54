import { ServerResponse, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { Server, type Namespace, type Socket } from 'socket.io';
import { authenticate, type AuthUser } from '../auth/guard.js';
import type { TokenService } from '../auth/tokens.js';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import type { AttemptContext } from '../exam/attempts.js';
import {
  EXAM_NAMESPACE,
  INVIGILATOR_NAMESPACE,
  type ExamClientToServerEvents,
  type ExamServerToClientEvents,
  type InvigilatorClientToServerEvents,
  type InvigilatorServerToClientEvents,
} from '../protocol.js';
import type { BusServerSideEvents } from './cluster-bus.js';
import { isOriginAllowed } from './origin.js';
import type { UserBuckets, UserLimits } from './rate-limit.js';

/** Largest socket message accepted; a bigger one closes that connection (engine.io's rule). */
export const MAX_SOCKET_MESSAGE_BYTES = 64 * 1024;

export interface ExamSocketData {
  user: AuthUser;
  /** Attempts this connection started or touched, checked to be the user's own. */
  attempts: Map<number, AttemptContext>;
  /** Exams this socket counts as present in (left on disconnect). */
  present: number[];
  /** Answers of this socket still being admitted, while there are any (a submit waits for them). */
  admitting?: Set<Promise<void>>;
  /** The user's rate-limit buckets on this node (shared by all of the user's sockets). */
  buckets: UserBuckets;
}

export interface InvigilatorSocketData {
  user: AuthUser;
  buckets: UserBuckets;
}

/** No server-side events on the two client namespaces (the bus rides on the main one). */
type NoEvents = Record<string, never>;

export type ExamNamespace = Namespace<ExamClientToServerEvents, ExamServerToClientEvents, NoEvents, ExamSocketData>;
export type ExamSocket = Socket<ExamClientToServerEvents, ExamServerToClientEvents, NoEvents, ExamSocketData>;
export type InvigilatorNamespace = Namespace<
  InvigilatorClientToServerEvents,
  InvigilatorServerToClientEvents,
  NoEvents,
  InvigilatorSocketData
>;
export type InvigilatorSocket = Socket<InvigilatorClientToServerEvents, InvigilatorServerToClientEvents, NoEvents, InvigilatorSocketData>;
/** The main namespace: no clients (refused), only the nodes' bus. */
export type MainNamespace = Namespace<NoEvents, NoEvents, BusServerSideEvents>;

/**
 * The Socket.IO server. Its own event maps are left open on purpose: `io.of()` hands every namespace
 * the server's maps, and ours differ per namespace (the same name, `proctor:event`, carries a student's
 * signal on `/exam` and an invigilator's notice on `/invigilator`). The accessors below give each
 * namespace its own maps; nothing is emitted on the server itself.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- open maps, narrowed per namespace below
export type SocketServer = Server<any, any, any, any>;

/** Each namespace with its own event maps. */
export const examNamespace = (io: SocketServer): ExamNamespace => io.of(EXAM_NAMESPACE);
export const invigilatorNamespace = (io: SocketServer): InvigilatorNamespace => io.of(INVIGILATOR_NAMESPACE);
export const mainNamespace = (io: SocketServer): MainNamespace => io.of('/');

/**
 * Socket.IO on Fastify's HTTP server: WebSocket first, long-polling as fallback, small messages,
 * origin checked before the handshake, and nothing served on the main namespace.
 */
export function createSocketServer(httpServer: HttpServer, allowedOrigins: readonly string[]): SocketServer {
  const io: SocketServer = new Server(httpServer, {
    transports: ['websocket', 'polling'],
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
    allowRequest: (req, callback) => {
      const ok = isOriginAllowed(req, allowedOrigins);
      callback(ok ? null : 'Origin not allowed', ok);
    },
    cors: allowedOrigins.length ? { origin: [...allowedOrigins] } : undefined,
    // Other upgrades (the plain-WebSocket feed) belong to Fastify, not to engine.io.
    destroyUpgrade: false,
  });
  io.of('/').use((_socket, next) => next(new Error('NOT_FOUND')));
  // Must stay the engine's last middleware: see releaseUpgradeRequest.
  io.engine.use(releaseUpgradeRequest);
  return io;
}

/**
 * engine.io (6.6) wraps each WebSocket upgrade in a response stand-in for its middlewares, and that
 * stand-in stays referenced by the TCP socket's `close` listener for the life of the connection,
 * holding the whole upgrade request: its headers, its raw headers and its stream state, about 3 KB
 * per connected student (measured: docs/benchmarks.md, "Memory per student"). After the last
 * middleware nothing reads the stand-in's request (its headers go out through the request itself), so
 * the reference is cut here. Plain HTTP (long-polling) responses are left alone.
 */
function releaseUpgradeRequest(_req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
  if (!(res instanceof ServerResponse)) (res as { req: unknown }).req = null;
  next();
}

/**
 * After a namespace's authentication: what the handshake carried for it is not needed again, and each
 * connected student would otherwise keep it (the token, every request header, the HTTP request
 * object). Later namespace connections over the same connection still see the headers they need
 * (authorization, origin) through the slim request left in place.
 */
function releaseHandshake(socket: Socket): void {
  const handshake = socket.handshake as { headers: object; auth: object; query: object; url: string };
  handshake.headers = {};
  handshake.auth = {};
  handshake.query = {};
  handshake.url = '';
  const conn = socket.conn as unknown as { request: IncomingMessage | SlimRequest | null };
  if (conn.request && !('slim' in conn.request)) conn.request = slimRequest(conn.request);
}

interface SlimRequest {
  slim: true;
  headers: Pick<IncomingMessage['headers'], 'authorization' | 'origin'>;
  url: string;
  connection: { encrypted: boolean };
  _query: Record<string, string>;
}

/** What Socket.IO reads of the request when another namespace connects (`buildHandshake`). */
function slimRequest(req: IncomingMessage): SlimRequest {
  const { authorization, origin } = req.headers;
  return {
    slim: true,
    headers: { ...(authorization === undefined ? {} : { authorization }), ...(origin === undefined ? {} : { origin }) },
    url: '',
    connection: { encrypted: 'encrypted' in req.socket && req.socket.encrypted === true },
    _query: { ...((req as { _query?: Record<string, string> })._query ?? {}) },
  };
}

/**
 * Closes sockets when their token expires, with one timer per namespace for all of them instead of one
 * per socket (a `Timeout`, its closure and a disconnect listener each: memory per student). Sockets are
 * kept in slots of one second of expiry; the timer is armed for the earliest slot.
 */
export class TokenExpiry {
  private readonly slots = new Map<number, Set<Socket>>();
  private readonly slotOf = new WeakMap<Socket, number>();
  private timer: NodeJS.Timeout | null = null;
  private armedSlot = Infinity;

  /** Closes `socket` (`disconnect(true)`) at `expiresAtMs` (epoch ms), unless it is removed first. */
  add(socket: Socket, expiresAtMs: number): void {
    const slot = Math.ceil(expiresAtMs / 1000);
    let sockets = this.slots.get(slot);
    if (!sockets) this.slots.set(slot, (sockets = new Set()));
    sockets.add(socket);
    this.slotOf.set(socket, slot);
    if (slot < this.armedSlot) this.arm(slot);
  }

  remove(socket: Socket): void {
    const slot = this.slotOf.get(socket);
    if (slot === undefined) return;
    this.slotOf.delete(socket);
    const sockets = this.slots.get(slot);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.slots.delete(slot);
  }

  /** Sockets waiting for their expiry. */
  get size(): number {
    let n = 0;
    for (const sockets of this.slots.values()) n += sockets.size;
    return n;
  }

  private arm(slot: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedSlot = slot;
    this.timer = setTimeout(() => this.fire(), Math.min(Math.max(slot * 1000 - Date.now(), 0), 2 ** 31 - 1));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedSlot = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [slot, sockets] of [...this.slots]) {
      if (slot * 1000 > now) {
        next = Math.min(next, slot);
        continue;
      }
      this.slots.delete(slot);
      for (const socket of sockets) {
        this.slotOf.delete(socket);
        socket.disconnect(true);
      }
    }
    if (next < Infinity) this.arm(next);
  }
}

/** What {@link admitSockets} needs of a namespace and its sockets. */
type AdmittedSocket = Socket<never, never, never, { user: AuthUser; buckets: UserBuckets }>;
interface AdmittingNamespace {
  use(fn: (socket: AdmittedSocket, next: (err?: Error) => void) => void): unknown;
  on(event: 'connection', fn: (socket: AdmittedSocket) => void): unknown;
}

/**
 * Who may hold a socket on a namespace, and for how long:
 * - handshake authentication: a valid JWT in `auth.token` (or an `Authorization: Bearer` header, for
 *   non-browser clients) and one of `roles`, else `connect_error` `UNAUTHORIZED` or `FORBIDDEN`;
 * - at most `limits`' sockets per user on this node, else `connect_error` `RATE_LIMITED`; a user's
 *   sockets share the user's rate-limit buckets;
 * - a socket lives as long as its token: at expiry it is closed, and the reconnect's handshake (with
 *   the old token) fails UNAUTHORIZED, so the page asks to sign in again.
 * The socket counts for the limit from its admission and for the expiry from its `connection` (a
 * refused handshake never counts; one whose client left before it connected gives its count back at
 * once), until its `disconnect`.
 */
export function admitSockets(nsp: AdmittingNamespace, tokens: TokenService, roles: readonly Role[], limits: UserLimits): void {
  const expiry = new TokenExpiry();
  // Shared by every socket (Socket.IO calls it with the socket as `this`): no closure per connection.
  function leave(this: AdmittedSocket): void {
    expiry.remove(this);
    limits.detach(this.data.user.id);
  }
  nsp.use((socket, next) => {
    const auth: unknown = socket.handshake.auth;
    const fromAuth = auth && typeof auth === 'object' && 'token' in auth && typeof auth.token === 'string' ? auth.token : undefined;
    const header = socket.handshake.headers.authorization;
    const token = fromAuth ?? (header?.startsWith('Bearer ') ? header.slice(7) : undefined);
    let user: AuthUser;
    try {
      user = authenticate(tokens, token, roles);
    } catch (err) {
      return next(new Error(err instanceof AppError ? err.code : 'UNAUTHORIZED'));
    }
    if (limits.full(user.id)) return next(new Error('RATE_LIMITED'));
    socket.data.user = user;
    releaseHandshake(socket);
    // Counted here, at once: several CONNECT packets read in one go (one connection may carry many
    // sockets of a namespace) must not all pass the check above before any is counted.
    socket.data.buckets = limits.attach(user.id);
    next();
    // Socket.IO connects the socket on a tick it queues inside next() (this is the namespace's only
    // middleware), unless its client left meanwhile, and then no `disconnect` ever comes: this tick
    // runs right after that one and gives such a count back.
    process.nextTick(() => {
      if (!socket.connected) limits.detach(user.id);
    });
  });
  nsp.on('connection', (socket) => {
    const { user } = socket.data;
    if (Number.isFinite(user.expiresAt)) expiry.add(socket, user.expiresAt);
    socket.on('disconnect', leave);
  });
}
