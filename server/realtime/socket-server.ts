import type { Server as HttpServer } from 'node:http';
import { Server, type Namespace, type Socket } from 'socket.io';
import type { DefaultEventsMap } from 'socket.io';
import type { AuthUser } from '../auth/guard.js';
import { authUserFromClaims } from '../auth/guard.js';
import type { TokenService } from '../auth/tokens.js';
import type { Role } from '../../entities/user.js';
import type { AttemptContext } from '../exam/attempts.js';
import type { ExamServerToClientEvents } from '../protocol.js';
import { isOriginAllowed } from './origin.js';
import type { TokenBucket } from './rate-limit.js';

/** Largest socket message accepted; a bigger one closes that connection (engine.io's rule). */
export const MAX_SOCKET_MESSAGE_BYTES = 64 * 1024;

export interface ExamSocketData {
  user: AuthUser;
  /** Attempts this connection started or touched, checked to be the user's own. */
  attempts: Map<number, AttemptContext>;
  buckets: { answers: TokenBucket; proctor: TokenBucket; other: TokenBucket };
}

// Incoming events are typed by their schemas (validated in the handlers), outgoing ones here.
export type ExamNamespace = Namespace<DefaultEventsMap, ExamServerToClientEvents, DefaultEventsMap, ExamSocketData>;
export type ExamSocket = Socket<DefaultEventsMap, ExamServerToClientEvents, DefaultEventsMap, ExamSocketData>;

/**
 * Socket.IO on Fastify's HTTP server: WebSocket first, long-polling as fallback, small messages,
 * origin checked before the handshake, and nothing served on the main namespace.
 */
export function createSocketServer(httpServer: HttpServer, allowedOrigins: readonly string[]): Server {
  const io = new Server(httpServer, {
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
  return (socket: Socket, next: (err?: Error) => void): void => {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const header = socket.handshake.headers.authorization;
    const token = typeof auth?.token === 'string' ? auth.token : header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!token) return next(new Error('UNAUTHORIZED'));
    let user: AuthUser;
    try {
      user = authUserFromClaims(tokens.verify(token));
    } catch {
      return next(new Error('UNAUTHORIZED'));
    }
    if (!roles.includes(user.role)) return next(new Error('FORBIDDEN'));
    (socket.data as { user: AuthUser }).user = user;
    next();
  };
}
