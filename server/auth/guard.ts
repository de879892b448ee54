import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import type { TokenClaims } from './tokens.js';

export interface AuthUser {
  id: number;
  role: Role;
  name: string;
}

export const authUserFromClaims = (c: TokenClaims): AuthUser => ({ id: c.sub, role: c.role, name: c.name });

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
    const token = bearerToken(request);
    if (!token) throw new AppError('UNAUTHORIZED', 'Missing bearer token');
    const user = authUserFromClaims(request.server.tokens.verify(token));
    if (roles.length && !roles.includes(user.role)) {
      throw new AppError('FORBIDDEN', `This needs the role ${roles.join(' or ')}`);
    }
    request.user = user;
  };
}

/** The authenticated user of a guarded route. */
export function currentUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw new AppError('UNAUTHORIZED', 'Not authenticated');
  return request.user;
}
