import { io as connect, type Socket } from 'socket.io-client';
import { afterAll } from 'vitest';
import type {
  Ack,
  AckData,
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  ExamClientToServerEvents,
  ExamServerToClientEvents,
  INVIGILATOR_NAMESPACE,
  InvigilatorClientToServerEvents,
  InvigilatorServerToClientEvents,
  PayloadOf,
  ProctorEventPayload,
  ProctorEventType,
} from '../../server/protocol.js';

/** A client of the `/exam` namespace: it emits the student requests and hears the student events. */
export type StudentSocket = Socket<ExamServerToClientEvents, ExamClientToServerEvents>;
/** A client of the `/invigilator` namespace. */
export type InvigilatorClientSocket = Socket<InvigilatorServerToClientEvents, InvigilatorClientToServerEvents>;
/** Any socket these helpers hand out (the main namespace `/` has no events of its own: a plain `Socket`). */
export type AnyClientSocket = StudentSocket | InvigilatorClientSocket | Socket;

/** A socket of one of the two namespaces. */
export type NamespaceSocket = StudentSocket | InvigilatorClientSocket;
/**
 * The client-to-server (requests) and server-to-client (events) maps of a socket, read from its type
 * arguments. The two socket types are assignable to each other (socket.io's method types are
 * bivariant), so plain overloads by socket type would let an invigilator request through on a student
 * socket; reading the maps off the socket's own type does not.
 */
export type RequestsOf<S> = S extends Socket<infer _Listen, infer Emit> ? Emit : never;
export type EventsOf<S> = S extends Socket<infer Listen, infer _Emit> ? Listen : never;

/**
 * A `proctor:event` payload as its schema validates it. `ProctorEventPayload['type']` is `never` in
 * server/protocol.ts (the schema's union is built with `.map()`, an array rather than a tuple, so its
 * static type is lost), which would make every proctoring request impossible to write; the type here
 * is the one the schema checks at runtime. Once the protocol's type is fixed, this is the same type.
 */
export type ProctorRequestPayload = Omit<ProctorEventPayload, 'type'> & { type: ProctorEventType };
/** The payload of request `E` of a socket (as {@link PayloadOf}, but see {@link ProctorRequestPayload}). */
export type RequestPayload<S, E extends keyof RequestsOf<S>> = E extends typeof EXAM_EVENTS.proctor
  ? ProctorRequestPayload
  : PayloadOf<RequestsOf<S>[E]>;
/** One request of a socket, its event and payload paired (for tables of requests). */
export type RequestOf<S> = { [E in keyof RequestsOf<S>]: [event: E, payload: RequestPayload<S, E>] }[keyof RequestsOf<S>];
/** The payload of a server-to-client event (its listener's one argument). */
export type EventPayload<F> = F extends (payload: infer P) => void ? P : never;

const open = new Set<AnyClientSocket>();
afterAll(() => {
  for (const s of open) s.disconnect();
  open.clear();
});

export interface ConnectOptions {
  origin?: string;
  reconnection?: boolean;
  transports?: ('websocket' | 'polling')[];
}

/**
 * A real Socket.IO client over WebSocket (or `opts.transports`, e.g. `['polling']` for long-polling
 * only) to `namespace`, authenticated with `token`, typed by that namespace's event maps. Resolves once
 * connected; rejects with the `connect_error` message (e.g. `UNAUTHORIZED`). Closed after the file.
 */
export function connectSocket(url: string, namespace: typeof EXAM_NAMESPACE, token: string | undefined, opts?: ConnectOptions): Promise<StudentSocket>;
export function connectSocket(
  url: string,
  namespace: typeof INVIGILATOR_NAMESPACE,
  token: string | undefined,
  opts?: ConnectOptions,
): Promise<InvigilatorClientSocket>;
export function connectSocket(url: string, namespace: '/', token: string | undefined, opts?: ConnectOptions): Promise<Socket>;
export function connectSocket(url: string, namespace: string, token: string | undefined, opts: ConnectOptions = {}): Promise<Socket> {
  const socket = connect(url + namespace, {
    auth: token === undefined ? {} : { token },
    transports: opts.transports ?? ['websocket'],
    reconnection: opts.reconnection ?? false,
    forceNew: true,
    extraHeaders: opts.origin ? { origin: opts.origin } : undefined,
  });
  open.add(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.disconnect();
      open.delete(socket);
      reject(err);
    });
  });
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether `value` is an ack envelope: `{ ok: true, … }`, or `{ ok: false, error: { code, message, … } }`. */
export function isAckEnvelope(value: unknown): value is Ack<Record<string, unknown>> {
  if (!isRecord(value)) return false;
  if (value.ok === true) return true;
  if (value.ok !== false || !isRecord(value.error)) return false;
  return typeof value.error.code === 'string' && typeof value.error.message === 'string';
}

/**
 * Emits `event` with `payload`, untyped, and resolves with the ack, checked to be an ack envelope (fails
 * the test after `timeoutMs` without one, or when the answer is not an envelope). For tests that send
 * what the protocol does not allow on purpose: wrong payloads, unknown events, events of the other
 * namespace. Everything else goes through {@link request} or {@link ok}.
 */
export async function requestRaw(socket: AnyClientSocket, event: string, payload: unknown, timeoutMs = 5000): Promise<Ack<Record<string, unknown>>> {
  const res: unknown = await untyped(socket).timeout(timeoutMs).emitWithAck(event, payload);
  if (!isAckEnvelope(res)) throw new Error(`${event}: the ack is not an ack envelope: ${JSON.stringify(res)}`);
  return res;
}

/**
 * Emits a request of the socket's namespace and resolves with its ack, both typed by the namespace's
 * event map (fails the test after `timeoutMs` without an ack, or when the answer is not an ack envelope).
 */
export function request<S extends NamespaceSocket, E extends keyof RequestsOf<S>>(
  socket: S,
  event: E,
  payload: RequestPayload<S, E>,
  timeoutMs?: number,
): Promise<Ack<AckData<RequestsOf<S>[E]>>>;
// The implementation sends on the untyped view of the socket; the signature above is what callers see.
export function request(socket: Socket, event: string, payload: unknown, timeoutMs = 5000): Promise<Ack<Record<string, unknown>>> {
  return requestRaw(socket, event, payload, timeoutMs);
}

/** Like {@link request}, but the ack must be `ok`; returns its data. */
export function ok<S extends NamespaceSocket, E extends keyof RequestsOf<S>>(
  socket: S,
  event: E,
  payload: RequestPayload<S, E>,
): Promise<AckData<RequestsOf<S>[E]>>;
export async function ok(socket: Socket, event: string, payload: unknown): Promise<Record<string, unknown>> {
  const res = await requestRaw(socket, event, payload);
  if (!res.ok) throw new Error(`${event} refused: ${res.error.code} ${res.error.message}`);
  return res;
}

/**
 * Resolves with the next `event` the socket receives that matches `filter`, its payload typed by the
 * namespace's server-to-client map (`disconnect`, on any socket, resolves with the reason).
 */
export function nextEvent<S extends NamespaceSocket, E extends keyof EventsOf<S>>(
  socket: S,
  event: E,
  filter?: (payload: EventPayload<EventsOf<S>[E]>) => boolean,
  timeoutMs?: number,
): Promise<EventPayload<EventsOf<S>[E]>>;
export function nextEvent(
  socket: AnyClientSocket,
  event: 'disconnect',
  filter?: (reason: Socket.DisconnectReason) => boolean,
  timeoutMs?: number,
): Promise<Socket.DisconnectReason>;
// The implementation listens on the untyped view of the socket; the signatures above are what callers see.
export function nextEvent<P>(socket: Socket, event: string, filter: (payload: P) => boolean = () => true, timeoutMs = 5000): Promise<P> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (payload: P): void => {
      if (!filter(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(payload);
    };
    socket.on(event, listener);
  });
}

/** The data of an ack that must be `ok` (narrowed), or a failed test naming the error. */
export function okData<T extends object>(ack: Ack<T>, what = 'request'): { ok: true } & T {
  if (!ack.ok) throw new Error(`${what} refused: ${ack.error.code} ${ack.error.message}`);
  return ack;
}

/**
 * The untyped view of a socket (socket.io's default event maps: any event name, any arguments), for
 * tests that break the protocol on purpose: an event without payload, without ack, or unknown.
 */
export function untyped(socket: AnyClientSocket): Socket {
  return socket;
}

/** Records every event the socket receives (for deep scans of what a client was sent). */
export function recordAll(socket: AnyClientSocket): { event: string; args: unknown[] }[] {
  const seen: { event: string; args: unknown[] }[] = [];
  socket.onAny((event: string, ...args: unknown[]) => seen.push({ event, args }));
  return seen;
}
