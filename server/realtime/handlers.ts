import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'socket.io';
import type { TSchema, Static } from 'typebox';
import { DATABASE_RETRY_AFTER_MS, isDatabaseUnavailable, missingReferenceError } from '../db/unavailable.js';
import { AppError } from '../errors.js';
import { compileValidator, type Ack, type AckData } from '../protocol.js';
import type { TokenBucket } from './rate-limit.js';

/** Any of our sockets, as far as listening goes (namespaces validate their payloads themselves). */
export type ListeningSocket = Pick<Socket, 'on' | 'onAny'>;
type AckFn = (res: Ack<object>) => void;

/** The error part of an ack, for any thrown value (unknown errors are logged, never leaked). */
export function errorAck(err: unknown, log: FastifyBaseLogger, event: string): Ack<never> {
  if (err instanceof AppError) return { ok: false, error: err.toBody() };
  if (isDatabaseUnavailable(err)) {
    log.warn({ err, event }, 'socket handler: database unreachable');
    return {
      ok: false,
      error: { code: 'UNAVAILABLE', message: 'The database is unreachable; try again shortly', retryAfterMs: DATABASE_RETRY_AFTER_MS },
    };
  }
  const missing = missingReferenceError(err);
  if (missing) {
    log.warn({ err, event }, 'socket handler: a write referred to a row that does not exist');
    return { ok: false, error: missing };
  }
  log.error({ err, event }, 'socket handler failed');
  return { ok: false, error: { code: 'INTERNAL', message: 'Internal server error' } };
}

/**
 * Whether a payload carries binary data: Socket.IO turns attachments into Buffers, which a schema can
 * take for an object (a Buffer of ten bytes passed as a `detail` record of ten numbers). The protocol is
 * JSON only. Iterative, so that a deeply nested payload cannot exhaust the stack.
 */
function carriesBinary(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length) {
    const v = pending.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) pending.push(child);
  }
  return false;
}

const BINARY_REFUSED = new AppError('VALIDATION', 'payload must be JSON, not binary data', {
  details: [{ path: '/', message: 'must be JSON, not binary data' }],
});

/**
 * Registers one event of the namespace whose client-to-server map is `Events` the house way: rate
 * limit, validate the payload with its schema, call the domain, ack `{ok: true, ...result}` (the result
 * typed by the event's ack in the protocol) or `{ok: false, error}`. A bad payload never closes the socket.
 */
export function eventHandlers<Events>(socket: ListeningSocket, log: FastifyBaseLogger) {
  return <E extends keyof Events & string, S extends TSchema>(
    event: E,
    schema: S,
    bucket: TokenBucket,
    fn: (payload: Static<S>) => Promise<AckData<Events[E]>>,
  ): void => handle(socket, event, schema, bucket, log, fn);
}

/**
 * One compiled validator per schema for the whole process. Compiling (TypeBox generates and evaluates
 * the checking code) once per socket and event cost ~30 KB of heap per connected student and CPU at
 * every connect (measured: docs/benchmarks.md, "Memory per student").
 */
interface Validator<S extends TSchema> {
  parse(value: unknown): Static<S>;
}
const validators = new WeakMap<TSchema, Validator<TSchema>>();

function validatorFor<S extends TSchema>(schema: S): Validator<S> {
  // Keyed by the schema object itself, so the entry is the validator compiled from exactly this S.
  const known = validators.get(schema) as Validator<S> | undefined;
  if (known) return known;
  const compiled = compileValidator(schema);
  validators.set(schema, compiled);
  return compiled;
}

function handle<S extends TSchema, R extends object>(
  socket: ListeningSocket,
  event: string,
  schema: S,
  bucket: TokenBucket,
  log: FastifyBaseLogger,
  fn: (payload: Static<S>) => Promise<R>,
): void {
  const validator = validatorFor(schema);
  socket.on(event, async (...args: unknown[]) => {
    // The ack is the last argument, when there is one: a client may emit without an ack (the work is
    // still done, there is just no one to tell), or with an ack and no payload at all (then the payload
    // is missing and gets VALIDATION, instead of the ack being taken for the payload and never called).
    const last = args[args.length - 1];
    const ack: AckFn = typeof last === 'function' ? (last as AckFn) : () => {};
    const payload = typeof args[0] === 'function' ? undefined : args[0];
    const waitMs = bucket.take();
    if (waitMs > 0) {
      ack({ ok: false, error: { code: 'RATE_LIMITED', message: 'Slow down', retryAfterMs: waitMs } });
      return;
    }
    try {
      if (carriesBinary(payload)) throw BINARY_REFUSED;
      const result = await fn(validator.parse(payload));
      ack({ ok: true, ...result });
    } catch (err) {
      ack(errorAck(err, log, event));
    }
  });
}

/** Acks events nobody listens to with `VALIDATION`, so a client with a typo is told instead of timing out. */
export function refuseUnknownEvents(socket: ListeningSocket, known: readonly string[]): void {
  const names = new Set(known);
  socket.onAny((event: string, ...args: unknown[]) => {
    if (names.has(event)) return;
    const ack = args[args.length - 1];
    if (typeof ack === 'function') {
      (ack as AckFn)({ ok: false, error: { code: 'VALIDATION', message: `Unknown event "${event}"` } });
    }
  });
}
