import { io as connect, type Socket } from 'socket.io-client';
import { afterAll } from 'vitest';
import type { Ack, ExamServerToClientEvents } from '../../server/protocol.js';

export type ClientSocket = Socket;

const open = new Set<Socket>();
afterAll(() => {
  for (const s of open) s.disconnect();
  open.clear();
});

/**
 * A real Socket.IO client over WebSocket (or `opts.transports`, e.g. `['polling']` for long-polling
 * only) to `namespace`, authenticated with `token`. Resolves once connected; rejects with the
 * `connect_error` message (e.g. `UNAUTHORIZED`). Closed after the file.
 */
export function connectSocket(
  url: string,
  namespace: '/exam' | '/invigilator' | '/',
  token: string | undefined,
  opts: { origin?: string; reconnection?: boolean; transports?: ('websocket' | 'polling')[] } = {},
): Promise<Socket> {
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

/** Emits `event` and resolves with the ack (fails the test after `timeoutMs` without one). */
export async function request<T extends object = Record<string, unknown>>(
  socket: Socket,
  event: string,
  payload: unknown,
  timeoutMs = 5000,
): Promise<Ack<T>> {
  return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack<T>;
}

/** Like {@link request}, but the ack must be `ok`; returns its data. */
export async function ok<T extends object = Record<string, unknown>>(socket: Socket, event: string, payload: unknown): Promise<T> {
  const res = await request<T>(socket, event, payload);
  if (!res.ok) throw new Error(`${event} refused: ${res.error.code} ${res.error.message}`);
  return res;
}

/** Resolves with the next `event` the socket receives that matches `filter`. */
export function nextEvent<T = unknown>(
  socket: Socket,
  event: keyof ExamServerToClientEvents | (string & {}),
  filter: (payload: T) => boolean = () => true,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (payload: T): void => {
      if (!filter(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(payload);
    };
    socket.on(event, listener);
  });
}

/** Records every event the socket receives (for deep scans of what a client was sent). */
export function recordAll(socket: Socket): { event: string; args: unknown[] }[] {
  const seen: { event: string; args: unknown[] }[] = [];
  socket.onAny((event: string, ...args: unknown[]) => seen.push({ event, args }));
  return seen;
}
