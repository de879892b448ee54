import type { FastifyBaseLogger } from 'fastify';
import type { TokenService } from '../auth/tokens.js';
import type { AttemptContext, AttemptService } from '../exam/attempts.js';
import {
  AnswerPayload,
  AttemptStartPayload,
  EXAM_EVENTS,
  ProctorEventPayload,
  SubmitPayload,
  type ExamClientToServerEvents as Events,
} from '../protocol.js';
import type { ClusterBus } from './cluster-bus.js';
import type { AttemptClocks } from './attempt-clocks.js';
import { SocketEvents } from './handlers.js';
import type { Presence } from './presence.js';
import { attemptRoom, examRoom } from './rooms.js';
import { UserLimits, type RateLimits } from './rate-limit.js';
import { admitSockets, type ExamNamespace, type ExamSocket } from './socket-server.js';

export interface ExamNamespaceDeps {
  attempts: AttemptService;
  clocks: AttemptClocks;
  presence: Presence;
  bus: ClusterBus;
  tokens: TokenService;
  limits: RateLimits;
  /** Most sockets one user may hold on this node. */
  socketsPerUser: number;
  log: FastifyBaseLogger;
}

/**
 * `/exam`: students. Handlers are thin: validate, check the attempt is the caller's, call the
 * attempt service, ack. Every (re)connect starts from the database (`attempt:start` resumes); the
 * client re-sends what was not acked and the idempotent write makes that harmless.
 */
export function registerExamNamespace(nsp: ExamNamespace, deps: ExamNamespaceDeps): void {
  const { attempts, clocks, limits, log, presence } = deps;
  admitSockets(nsp, deps.tokens, ['student'], new UserLimits(limits, deps.socketsPerUser));

  /** Every node applies a deadline change and an attempt's end to the sockets it holds. */
  const localContexts = (attemptId: number): AttemptContext[] => {
    const ids = nsp.adapter.rooms.get(attemptRoom(attemptId));
    if (!ids) return [];
    return [...ids].flatMap((id) => {
      const ctx = nsp.sockets.get(id)?.data.attempts?.get(attemptId);
      return ctx ? [ctx] : [];
    });
  };
  deps.bus.on('deadlines', ({ changes }) => {
    for (const c of changes) {
      const deadlineAt = new Date(c.deadlineAt);
      for (const ctx of localContexts(c.attemptId)) ctx.deadlineAt = deadlineAt;
      clocks.update(c.attemptId, deadlineAt);
    }
  });
  deps.bus.on('ended', (ev) => {
    for (const ctx of localContexts(ev.attemptId)) ctx.status = ev.status;
    clocks.drop(ev.attemptId);
    nsp.local.to(attemptRoom(ev.attemptId)).emit(EXAM_EVENTS.ended, ev);
  });

  /** The attempt, if it is the caller's: from this connection's memory, else from the database. */
  const owned = async (socket: ExamSocket, attemptId: number): Promise<AttemptContext> => {
    const known = socket.data.attempts.get(attemptId);
    if (known) return known;
    const ctx = await attempts.context(socket.data.user.id, attemptId);
    socket.data.attempts.set(attemptId, ctx);
    await socket.join(attemptRoom(attemptId));
    return ctx;
  };

  const events = new SocketEvents<Events, ExamSocket>(log)
    .on(EXAM_EVENTS.start, AttemptStartPayload, 'other', async (socket, { examId }) => {
      const { data } = socket;
      const { result, context } = await attempts.start(data.user.id, examId);
      data.attempts.set(context.attemptId, context);
      await socket.join([attemptRoom(context.attemptId), examRoom(examId)]);
      clocks.track(context.attemptId, context.deadlineAt, context.graceMs);
      if (!data.present.includes(examId) && socket.connected) {
        data.present.push(examId);
        void presence.join(examId, data.user.id, context.attemptId);
      }
      // After the ack (same tick order on the wire): the client knows the attempt before its clock.
      setImmediate(() => socket.emit(EXAM_EVENTS.timer, clocks.timerEvent(context.attemptId, context.deadlineAt, 'start')));
      return result;
    })
    .on(EXAM_EVENTS.answer, AnswerPayload, 'answers', async (socket, payload) => {
      const admission = owned(socket, payload.attemptId).then((ctx) => attempts.admitAnswer(ctx, payload));
      const settled = admission.then(noop, noop);
      // Answers of this socket still being admitted (checked, not yet in the writer's buffer): a
      // submit waits for those received before it, so every answer sent before a submit counts.
      const admitting = (socket.data.admitting ??= new Set());
      admitting.add(settled);
      void settled.then(() => {
        admitting.delete(settled);
        if (admitting.size === 0 && socket.data.admitting === admitting) delete socket.data.admitting;
      });
      return (await admission).durable;
    })
    .on(EXAM_EVENTS.submit, SubmitPayload, 'other', async (socket, { attemptId }) => {
      // Events of one socket take effect in the order they were sent, while answers still write in
      // parallel batches.
      if (socket.data.admitting) await Promise.all([...socket.data.admitting]);
      const ctx = await owned(socket, attemptId);
      const { result } = await attempts.end(attemptId, 'submit', { studentId: socket.data.user.id });
      ctx.status = result.attempt.status;
      return result;
    })
    .on(EXAM_EVENTS.proctor, ProctorEventPayload, 'proctor', async (socket, payload) => {
      await attempts.proctorEvent(await owned(socket, payload.attemptId), payload);
      return {};
    });

  function leavePresence(this: ExamSocket): void {
    for (const examId of this.data.present) void presence.leave(examId, this.data.user.id);
  }

  nsp.on('connection', (socket: ExamSocket) => {
    socket.data.attempts = new Map();
    socket.data.present = [];
    socket.on('disconnect', leavePresence);
    events.attach(socket);
  });
}

const noop = (): void => {};
