import type { FastifyBaseLogger } from 'fastify';
import type { TokenService } from '../auth/tokens.js';
import type { Role } from '../../entities/user.js';
import type { InvigilationService } from '../exam/invigilation.js';
import {
  AttemptExtendPayload,
  AttemptForceSubmitPayload,
  AttemptMessagePayload,
  AttemptTerminatePayload,
  ExamAnnouncePayload,
  ExamExtendPayload,
  ExamWatchPayload,
  INVIGILATOR_EVENTS,
  type InvigilatorClientToServerEvents as Events,
  type InvigilatorDelivery,
  type RosterRow,
} from '../protocol.js';
import type { ClusterBus } from './cluster-bus.js';
import { SocketEvents } from './handlers.js';
import type { Presence } from './presence.js';
import { UserLimits, type RateLimits } from './rate-limit.js';
import { examRoom } from './rooms.js';
import { admitSockets, type InvigilatorNamespace, type InvigilatorSocket } from './socket-server.js';

/** Who may connect to `/invigilator` and read the feed (each exam is still checked: assigned, or admin). */
export const INVIGILATOR_ROLES: readonly Role[] = ['invigilator', 'admin'];

export interface InvigilatorNamespaceDeps {
  invigilation: InvigilationService;
  presence: Presence;
  bus: ClusterBus;
  tokens: TokenService;
  limits: RateLimits;
  /** Most sockets one user may hold on this node. */
  socketsPerUser: number;
  log: FastifyBaseLogger;
  /** Other listeners of invigilator events on this node (the plain-WebSocket feed). */
  deliverElsewhere: (delivery: InvigilatorDelivery) => void;
  /** Those other listeners lose the exam when their invigilator is no longer assigned. */
  revokeElsewhere: (examId: number, assigned: ReadonlySet<number>) => void;
}

/** The roster of an exam with live presence merged in: ≤ 2 statements and one Redis round trip. */
export async function rosterWithPresence(deps: Pick<InvigilatorNamespaceDeps, 'invigilation' | 'presence'>, examId: number): Promise<RosterRow[]> {
  const [roster, online] = await Promise.all([deps.invigilation.roster(examId), deps.presence.online(examId)]);
  for (const row of roster) row.connected = online.has(row.student.id);
  return roster;
}

/**
 * `/invigilator`: invigilators assigned to the exam, and admins. Watching joins the exam's room (the
 * server joins it, never the client) after the authorization check; every action re-checks it.
 */
export function registerInvigilatorNamespace(nsp: InvigilatorNamespace, deps: InvigilatorNamespaceDeps): void {
  const { invigilation, limits, log } = deps;
  // Twice a student's `other` rate: an invigilator acts on many students.
  admitSockets(nsp, deps.tokens, INVIGILATOR_ROLES, new UserLimits(limits, deps.socketsPerUser, 2));

  deps.bus.on('invigilators', (d) => {
    const room = nsp.local.to(examRoom(d.examId));
    switch (d.event) {
      case INVIGILATOR_EVENTS.rosterUpdate:
        room.emit(d.event, d.payload);
        break;
      case INVIGILATOR_EVENTS.proctorEvent:
        room.emit(d.event, d.payload);
        break;
      case INVIGILATOR_EVENTS.ended:
        room.emit(d.event, d.payload);
        break;
    }
    deps.deliverElsewhere(d);
  });

  // An invigilator removed from an exam stops receiving it at once, on every node (admins stay).
  deps.bus.on('invigilators-changed', ({ examId, invigilatorIds }) => {
    const assigned = new Set(invigilatorIds);
    for (const id of nsp.adapter.rooms.get(examRoom(examId)) ?? []) {
      const socket = nsp.sockets.get(id);
      const user = socket?.data.user;
      if (socket && user && user.role !== 'admin' && !assigned.has(user.id)) void socket.leave(examRoom(examId));
    }
    deps.revokeElsewhere(examId, assigned);
  });

  const E = INVIGILATOR_EVENTS;
  const events = new SocketEvents<Events, InvigilatorSocket>(log)
    .on(E.watch, ExamWatchPayload, 'other', async (socket, { examId }) => {
      await invigilation.authorizeExam(socket.data.user, examId);
      // Join before the snapshot: an update racing it arrives after and is at worst a repeat.
      await socket.join(examRoom(examId));
      return { roster: await rosterWithPresence(deps, examId) };
    })
    .on(E.extendAttempt, AttemptExtendPayload, 'other', async (socket, { attemptId, seconds, requestId }) =>
      invigilation.extendAttempt(socket.data.user, attemptId, seconds, requestId),
    )
    .on(E.extendExam, ExamExtendPayload, 'other', async (socket, { examId, seconds, requestId }) =>
      invigilation.extendExam(socket.data.user, examId, seconds, requestId),
    )
    .on(E.message, AttemptMessagePayload, 'other', async (socket, { attemptId, text, requestId }) => {
      await invigilation.message(socket.data.user, attemptId, text, requestId);
      return {};
    })
    .on(E.announce, ExamAnnouncePayload, 'other', async (socket, { examId, text, requestId }) => {
      await invigilation.announce(socket.data.user, examId, text, requestId);
      return {};
    })
    .on(E.terminate, AttemptTerminatePayload, 'other', async (socket, { attemptId, reason, requestId }) =>
      invigilation.terminate(socket.data.user, attemptId, reason, requestId),
    )
    .on(E.forceSubmit, AttemptForceSubmitPayload, 'other', async (socket, { attemptId, requestId }) =>
      invigilation.forceSubmit(socket.data.user, attemptId, requestId),
    );
  nsp.on('connection', (socket: InvigilatorSocket) => events.attach(socket));
}
