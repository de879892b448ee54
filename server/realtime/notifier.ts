import type { Server } from 'socket.io';
import type { DeadlineChange, ExamNotifier } from '../exam/notifier.js';
import type { ProgressTracker } from '../exam/progress.js';
import { FLAG_EVENT_TYPES, type AttemptEndedEvent, type RosterUpdate } from '../protocol.js';
import type { ClusterBus } from './cluster-bus.js';
import { attemptRoom, examRoom } from './rooms.js';

export const EXAM_NAMESPACE = '/exam';
export const INVIGILATOR_NAMESPACE = '/invigilator';

/** Bus topics: what every node does for its own sockets and feeds. */
export const TOPICS = {
  /** `{examId, event, payload}`: deliver to the exam's invigilators (sockets and plain-WS feeds). */
  invigilators: 'invigilators',
  /** `{changes: [{attemptId, deadlineAt}]}`: move timers and the deadline each socket remembers. */
  deadlines: 'deadlines',
  /** `AttemptEndedEvent`: tell the student's sockets, forget the attempt's clock. */
  ended: 'ended',
  /** `{examId}`: an exam was edited; drop in-process question caches. */
  examChanged: 'exam-changed',
  /** `{examId, invigilatorIds}`: the assignment changed; consoles and feeds of removed invigilators stop. */
  invigilatorsChanged: 'invigilators-changed',
} as const;

export interface InvigilatorDelivery {
  examId: number;
  event: string;
  payload: unknown;
}

/**
 * The domain's notifications, delivered on every node: student-facing messages through Socket.IO
 * rooms (the adapter fans them out), node-local work (timers, invigilator fan-out to sockets and
 * feeds) through the cluster bus.
 */
export class SocketNotifier implements ExamNotifier {
  private readonly flagTypes = new Set<string>(FLAG_EVENT_TYPES);

  constructor(
    private readonly io: Server,
    private readonly bus: ClusterBus,
    private readonly progress: () => ProgressTracker,
  ) {}

  toInvigilators(examId: number, event: string, payload: unknown): void {
    this.bus.publish<InvigilatorDelivery>(TOPICS.invigilators, { examId, event, payload });
  }

  /** Each row names its exam too: one console may watch several exams with students in both. */
  roster(examId: number, update: RosterUpdate | RosterUpdate[]): void {
    const rows = (Array.isArray(update) ? update : [update]).map((u) => ({ ...u, examId }));
    this.toInvigilators(examId, 'roster:update', Array.isArray(update) ? rows : rows[0]);
  }

  attemptStarted(ev: Parameters<ExamNotifier['attemptStarted']>[0]): void {
    this.roster(ev.examId, {
      attemptId: ev.attemptId,
      student: { id: ev.studentId },
      status: 'in_progress',
      deadlineAt: ev.deadlineAt.toISOString(),
    });
  }

  attemptEnded(ev: Parameters<ExamNotifier['attemptEnded']>[0]): void {
    const payload: AttemptEndedEvent = { attemptId: ev.attemptId, status: ev.status, reason: ev.reason };
    this.bus.publish(TOPICS.ended, payload);
    this.toInvigilators(ev.examId, 'attempt:ended', { ...payload, examId: ev.examId });
    this.roster(ev.examId, { attemptId: ev.attemptId, student: { id: ev.studentId }, status: ev.status });
  }

  proctorEvent(ev: Parameters<ExamNotifier['proctorEvent']>[0]): void {
    this.toInvigilators(ev.examId, 'proctor:event', {
      examId: ev.examId,
      attemptId: ev.attemptId,
      student: { id: ev.studentId },
      type: ev.type,
      detail: ev.detail,
      at: ev.at.toISOString(),
    });
    if (this.flagTypes.has(ev.type)) this.progress().touch(ev.attemptId);
  }

  answerSaved(ev: Parameters<ExamNotifier['answerSaved']>[0]): void {
    this.progress().touch(ev.attemptId);
  }

  deadlinesChanged(examId: number, changes: DeadlineChange[]): void {
    this.bus.publish(TOPICS.deadlines, {
      changes: changes.map((c) => ({ attemptId: c.attemptId, deadlineAt: c.deadlineAt.toISOString() })),
    });
    this.roster(
      examId,
      changes.map((c) => ({ attemptId: c.attemptId, student: { id: c.studentId }, deadlineAt: c.deadlineAt.toISOString() })),
    );
  }

  messageToAttempt(ev: Parameters<ExamNotifier['messageToAttempt']>[0]): void {
    this.io.of(EXAM_NAMESPACE).to(attemptRoom(ev.attemptId)).emit('message', { text: ev.text, from: ev.from, at: ev.at.toISOString() });
  }

  announce(ev: Parameters<ExamNotifier['announce']>[0]): void {
    this.io.of(EXAM_NAMESPACE).to(examRoom(ev.examId)).emit('message', { text: ev.text, from: ev.from, at: ev.at.toISOString() });
  }
}
