import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import type { TokenClaims, TokenService } from './tokens.js';

export interface AuthUser {
  id: number;
  role: Role;
  name: string;
  /** When the token this user came with expires (ms since the epoch). */
  expiresAt: number;
}

const authUserFromClaims = (c: TokenClaims): AuthUser => ({ id: c.sub, role: c.role, name: c.name, expiresAt: c.expiresAt ?? Infinity });

/**
 * The one way from a bearer token to a user, for HTTP routes, socket handshakes and the WebSocket feed:
 * throws `UNAUTHORIZED` for a missing, forged or expired token, `FORBIDDEN` when the user has none of
 * `roles` (any role passes when none are given).
 */
export function authenticate(tokens: TokenService, token: string | undefined, roles: readonly Role[] = []): AuthUser {
  if (!token) throw new AppError('UNAUTHORIZED', 'Missing bearer token');
  const user = authUserFromClaims(tokens.verify(token));
  if (roles.length && !roles.includes(user.role)) {
    throw new AppError('FORBIDDEN', `This needs the role ${roles.join(' or ')}`);
  }
  return user;
}

/** Reads `Authorization: Bearer <jwt>`. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  return undefined;
}

/**
 * A route guard: the request must carry a valid token, and the user one of `roles` (any role when
 * none are given). Sets `request.user`. Attach it as `onRequest`, so that an anonymous or unauthorized
 * request is refused before its body is parsed and validated (and learns nothing about the schema).
 */
export function requireRole(...roles: Role[]): preHandlerAsyncHookHandler {
  return async function guard(this: unknown, request: FastifyRequest, _reply: FastifyReply) {
    request.user = authenticate(request.server.tokens, bearerToken(request), roles);
  };
}

/** The authenticated user of a guarded route. */
export function currentUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw new AppError('UNAUTHORIZED', 'Not authenticated');
  return request.user;
}
