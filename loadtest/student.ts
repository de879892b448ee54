/**
 * A load client's view of the wire contract: typed sockets for `/exam` and `/invigilator`, and each
 * request as a promise of its typed ack with a deadline of our own (socket.io-client's `timeout()`
 * re-types the ack as `any`, so it is not used here).
 */
import { io, type Socket } from 'socket.io-client';
import {
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  INVIGILATOR_EVENTS,
  INVIGILATOR_NAMESPACE,
  type Ack,
  type AnswerPayload,
  type AttemptStartResult,
  type ExamClientToServerEvents,
  type ExamServerToClientEvents,
  type InvigilatorClientToServerEvents,
  type InvigilatorServerToClientEvents,
  type RosterRow,
  type SubmitResult,
} from '../server/protocol.js';

export type StudentSocket = Socket<ExamServerToClientEvents, ExamClientToServerEvents>;
export type InvigilatorSocket = Socket<InvigilatorServerToClientEvents, InvigilatorClientToServerEvents>;

/** What a request resolves with when no ack came in time (the code counted in "errors by code"). */
export const TIMEOUT: Ack = { ok: false, error: { code: 'TIMEOUT', message: 'no ack in time' } };

export interface ConnectOptions {
  /** Leave from this address of 127.0.0.0/8, so nginx's `hash $remote_addr` spreads clients over nodes. */
  localAddress?: string;
  timeoutMs?: number;
}

function connect<S extends Socket>(socket: S, timeoutMs: number): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error('CONNECT_TIMEOUT'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err: Error) => {
      clearTimeout(timer);
      socket.disconnect();
      reject(err);
    });
  });
}

const socketOptions = (token: string, opts: ConnectOptions) => ({
  auth: { token },
  transports: ['websocket'],
  reconnection: false,
  forceNew: true,
  ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
});

export const connectStudent = (url: string, token: string, opts: ConnectOptions = {}): Promise<StudentSocket> =>
  connect<StudentSocket>(io(url + EXAM_NAMESPACE, socketOptions(token, opts)), opts.timeoutMs ?? 20_000);

export const connectInvigilator = (url: string, token: string, opts: ConnectOptions = {}): Promise<InvigilatorSocket> =>
  connect<InvigilatorSocket>(io(url + INVIGILATOR_NAMESPACE, socketOptions(token, opts)), opts.timeoutMs ?? 20_000);

/** Resolves with the ack, or with {@link TIMEOUT} after `timeoutMs`; never rejects. */
function withDeadline<T extends object>(timeoutMs: number, send: (ack: (res: Ack<T>) => void) => void): Promise<Ack<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
    send((res) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}

export const startAttempt = (socket: StudentSocket, examId: number, timeoutMs = 30_000) =>
  withDeadline<AttemptStartResult>(timeoutMs, (ack) => socket.emit(EXAM_EVENTS.start, { examId }, ack));

export const sendAnswer = (socket: StudentSocket, answer: AnswerPayload, timeoutMs = 10_000) =>
  withDeadline<{ seq: number }>(timeoutMs, (ack) => socket.emit(EXAM_EVENTS.answer, answer, ack));

export const submitAttempt = (socket: StudentSocket, attemptId: number, timeoutMs = 30_000) =>
  withDeadline<SubmitResult>(timeoutMs, (ack) => socket.emit(EXAM_EVENTS.submit, { attemptId }, ack));

export const watchExam = (socket: InvigilatorSocket, examId: number, timeoutMs = 30_000) =>
  withDeadline<{ roster: RosterRow[] }>(timeoutMs, (ack) => socket.emit(INVIGILATOR_EVENTS.watch, { examId }, ack));

/** The error code of a refused ack, or of a failed connect (`connect_error` message). */
export function errorCode(err: unknown): string {
  // engine.io-client's "websocket error" says nothing: its cause is the HTTP status or the socket error.
  const cause = (err as { description?: { message?: unknown; error?: { code?: unknown } } } | null)?.description;
  const status = typeof cause?.message === 'string' ? /Unexpected server response: (\d+)/.exec(cause.message)?.[1] : undefined;
  if (status) return `WEBSOCKET_HTTP_${status}`;
  if (typeof cause?.error?.code === 'string') return `WEBSOCKET_${cause.error.code}`;
  const message = err instanceof Error ? err.message : String(err);
  return /^[A-Z_]+$/.test(message) ? message : message.replace(/[^A-Za-z]+/g, '_').toUpperCase().slice(0, 40) || 'UNKNOWN';
}
