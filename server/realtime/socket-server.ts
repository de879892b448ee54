import type { Server as HttpServer } from 'node:http';
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
  return io;
}

/**
 * Handshake authentication for a namespace: a valid JWT in `auth.token` (or an `Authorization: Bearer`
 * header, for non-browser clients) and one of `roles`. Fails the connection with `connect_error`
 * `UNAUTHORIZED` or `FORBIDDEN`.
 */
export function socketAuth(tokens: TokenService, roles: readonly Role[]) {
  return (socket: Socket<never, never, never, { user: AuthUser }>, next: (err?: Error) => void): void => {
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
    socket.data.user = user;
    // A socket lives as long as its token: at expiry it is closed, and the reconnect's handshake
    // (with the old token) fails UNAUTHORIZED, so the page asks to sign in again.
    const left = user.expiresAt - Date.now();
    if (Number.isFinite(left)) {
      const expire = setTimeout(() => socket.disconnect(true), Math.min(Math.max(left, 0), 2 ** 31 - 1));
      expire.unref();
      socket.once('disconnect', () => clearTimeout(expire));
    }
    next();
  };
}

/**
 * After {@link socketAuth}: gives the socket its user's shared rate-limit buckets, or refuses the
 * connection (`connect_error` `RATE_LIMITED`) when the user already has the most sockets allowed here.
 */
export function perUserLimits(limits: UserLimits) {
  return (socket: Socket<never, never, never, { user: AuthUser; buckets: UserBuckets }>, next: (err?: Error) => void): void => {
    const userId = socket.data.user.id;
    const buckets = limits.attach(userId);
    if (!buckets) return next(new Error('RATE_LIMITED'));
    socket.data.buckets = buckets;
    socket.once('disconnect', () => limits.detach(userId));
    next();
  };
}
