import { ConnectionException } from '@mikro-orm/core';
import type { ErrorBody } from '../errors.js';

/** Socket-level failures and PostgreSQL's "connection exception" / "operator intervention" states. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too many connections
  '57P01', // admin shutdown
  '57P02', // crash shutdown
  '57P03', // cannot connect now (starting up, shutting down)
]);
const CONNECTION_MESSAGES = /connection terminated|timeout exceeded when trying to connect|connection is closed|not queryable|cannot use a pool after calling end/i;

/**
 * True when `err` says the database could not be reached (down, restarting, out of connections),
 * as opposed to a query that failed on its own: the first is a retryable `UNAVAILABLE` for the
 * client, the second a bug (`INTERNAL`). Looks through `cause` chains, where drivers nest the reason.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ConnectionException) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  }
  return false;
}

/** How long a client should wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_MS = 2000;

/** Serialization failure and deadlock: the statement was fine, another transaction got in the way. */
const TRANSIENT_CODES = new Set(['40001', '40P01']);

/**
 * True when a failed write may succeed as it is if tried again: the database was unreachable
 * ({@link isDatabaseUnavailable}) or the write lost a race (serialization failure, deadlock). False
 * for a statement refused for its data (a value the column cannot store, a broken constraint), which
 * fails the same way every time: the batch writers split such a batch to find the items at fault.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  if (isDatabaseUnavailable(err)) return true;
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  }
  return false;
}

/**
 * What a write refused by a foreign key (`23503`) was missing: `'user'` when the row it refers to is a
 * user, `'row'` otherwise, `undefined` for any other error. Clients never send user ids (those come from
 * their token, or from a lookup in the same request), so a missing user is the caller's own account,
 * gone while its token is still valid: `UNAUTHORIZED`, not a server fault.
 */
export function missingReference(err: unknown): 'user' | 'row' | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code !== '23503') continue;
    const detail = (e as { detail?: unknown }).detail;
    return typeof detail === 'string' && /\btable "users"/.test(detail) ? 'user' : 'row';
  }
  return undefined;
}

/** The error a client gets for a write a foreign key refused ({@link missingReference}), on HTTP and sockets alike. */
export function missingReferenceError(err: unknown): ErrorBody | undefined {
  const missing = missingReference(err);
  if (missing === 'user') return { code: 'UNAUTHORIZED', message: 'The account of this token no longer exists; sign in again' };
  if (missing === 'row') return { code: 'NOT_FOUND', message: 'What this request refers to no longer exists' };
  return undefined;
}
