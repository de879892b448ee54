import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'socket.io';
import type { TSchema, Static } from 'typebox';
import { DATABASE_RETRY_AFTER_MS, isDatabaseUnavailable, missingReferenceError } from '../db/unavailable.js';
import { AppError } from '../errors.js';
import { compileValidator, type Ack, type AckData } from '../protocol.js';
import type { UserBuckets } from './rate-limit.js';

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

/** What a listener needs of a socket: its user's rate-limit buckets (the socket is the listener's `this`). */
export interface HandledSocket extends ListeningSocket {
  data: { buckets: UserBuckets };
}

/**
 * The events of one namespace whose client-to-server map is `Events`, handled the house way: rate
 * limit, validate the payload with its schema, call the domain, ack `{ok: true, ...result}` (the result
 * typed by the event's ack in the protocol) or `{ok: false, error}`; an event nobody listens to is
 * acked `VALIDATION`. A bad payload never closes the socket.
 *
 * The listeners are made once per namespace and shared by every socket (Socket.IO calls a listener
 * with the socket as `this`): a connection adds entries to its own listener table and no closures,
 * which at thousands of students is memory per student (docs/benchmarks.md, "Memory per student").
 */
export class SocketEvents<Events, Sock extends HandledSocket> {
  private readonly listeners: [string, (...args: unknown[]) => void][] = [];
  private readonly known = new Set<string>();
  private readonly refuseUnknown: (event: string, ...args: unknown[]) => void;

  constructor(private readonly log: FastifyBaseLogger) {
    const known = this.known;
    this.refuseUnknown = (event: string, ...args: unknown[]) => {
      if (known.has(event)) return;
      const ack = args[args.length - 1];
      if (typeof ack === 'function') (ack as AckFn)({ ok: false, error: { code: 'VALIDATION', message: `Unknown event "${event}"` } });
    };
  }

  on<E extends keyof Events & string, S extends TSchema>(
    event: E,
    schema: S,
    bucket: keyof UserBuckets,
    fn: (socket: Sock, payload: Static<S>) => Promise<AckData<Events[E]>>,
  ): this {
    this.known.add(event);
    this.listeners.push([event, listener(event, schema, bucket, this.log, fn)]);
    return this;
  }

  /** A new connection: the shared listeners on this socket. */
  attach(socket: Sock): void {
    for (const [event, fn] of this.listeners) socket.on(event, fn);
    socket.onAny(this.refuseUnknown);
  }
}

function listener<Sock extends HandledSocket, S extends TSchema, R extends object>(
  event: string,
  schema: S,
  bucket: keyof UserBuckets,
  log: FastifyBaseLogger,
  fn: (socket: Sock, payload: Static<S>) => Promise<R>,
): (this: Sock, ...args: unknown[]) => Promise<void> {
  const validator = validatorFor(schema);
  return async function (this: Sock, ...args: unknown[]): Promise<void> {
    // The ack is the last argument, when there is one: a client may emit without an ack (the work is
    // still done, there is just no one to tell), or with an ack and no payload at all (then the payload
    // is missing and gets VALIDATION, instead of the ack being taken for the payload and never called).
    const last = args[args.length - 1];
    const ack: AckFn = typeof last === 'function' ? (last as AckFn) : noAck;
    const payload = typeof args[0] === 'function' ? undefined : args[0];
    const waitMs = this.data.buckets[bucket].take();
    if (waitMs > 0) {
      ack({ ok: false, error: { code: 'RATE_LIMITED', message: 'Slow down', retryAfterMs: waitMs } });
      return;
    }
    try {
      if (carriesBinary(payload)) throw BINARY_REFUSED;
      const result = await fn(this, validator.parse(payload));
      ack({ ok: true, ...result });
    } catch (err) {
      ack(errorAck(err, log, event));
    }
  };
}

const noAck: AckFn = () => {};
