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
import { eventHandlers, refuseUnknownEvents } from './handlers.js';
import type { Presence } from './presence.js';
import { attemptRoom, examRoom } from './rooms.js';
import { UserLimits, type RateLimits } from './rate-limit.js';
import { perUserLimits, socketAuth, type ExamNamespace, type ExamSocket } from './socket-server.js';

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
  nsp.use(socketAuth(deps.tokens, ['student']));
  nsp.use(perUserLimits(new UserLimits(limits, deps.socketsPerUser)));

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

  nsp.on('connection', (socket: ExamSocket) => {
    const user = socket.data.user;
    socket.data.attempts = new Map();
    const { buckets } = socket.data;
    /** Exams this socket counts as present in (for presence on disconnect). */
    const present = new Set<number>();
    socket.on('disconnect', () => {
      for (const examId of present) void presence.leave(examId, user.id);
    });

    /** The attempt, if it is the caller's: from this connection's memory, else from the database. */
    const owned = async (attemptId: number): Promise<AttemptContext> => {
      const known = socket.data.attempts.get(attemptId);
      if (known) return known;
      const ctx = await attempts.context(user.id, attemptId);
      socket.data.attempts.set(attemptId, ctx);
      await socket.join(attemptRoom(attemptId));
      return ctx;
    };

    refuseUnknownEvents(socket, [EXAM_EVENTS.start, EXAM_EVENTS.answer, EXAM_EVENTS.submit, EXAM_EVENTS.proctor]);
    const on = eventHandlers<Events>(socket, log);

    on(EXAM_EVENTS.start, AttemptStartPayload, buckets.other, async ({ examId }) => {
      const { result, context } = await attempts.start(user.id, examId);
      socket.data.attempts.set(context.attemptId, context);
      await socket.join([attemptRoom(context.attemptId), examRoom(examId)]);
      clocks.track(context.attemptId, context.deadlineAt, context.graceMs);
      if (!present.has(examId) && socket.connected) {
        present.add(examId);
        void presence.join(examId, user.id, context.attemptId);
      }
      // After the ack (same tick order on the wire): the client knows the attempt before its clock.
      setImmediate(() => socket.emit(EXAM_EVENTS.timer, clocks.timerEvent(context.attemptId, context.deadlineAt, 'start')));
      return result;
    });

    /**
     * Answers of this socket still being admitted (checked, not yet in the writer's buffer). A submit
     * waits for those received before it, so every answer sent before a submit counts: events of one
     * socket take effect in the order they were sent, while answers still write in parallel batches.
     */
    const admitting = new Set<Promise<unknown>>();

    on(EXAM_EVENTS.answer, AnswerPayload, buckets.answers, async (payload) => {
      const admission = owned(payload.attemptId).then((ctx) => attempts.admitAnswer(ctx, payload));
      const settled = admission.then(
        () => undefined,
        () => undefined,
      );
      admitting.add(settled);
      void settled.then(() => admitting.delete(settled));
      return (await admission).durable;
    });

    on(EXAM_EVENTS.submit, SubmitPayload, buckets.other, async ({ attemptId }) => {
      await Promise.all([...admitting]);
      const ctx = await owned(attemptId);
      const { result } = await attempts.end(attemptId, 'submit', { studentId: user.id });
      ctx.status = result.attempt.status;
      return result;
    });

    on(EXAM_EVENTS.proctor, ProctorEventPayload, buckets.proctor, async (payload) => {
      await attempts.proctorEvent(await owned(payload.attemptId), payload);
      return {};
    });
  });
}
