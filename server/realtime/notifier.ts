import type { DeadlineChange, ExamNotifier } from '../exam/notifier.js';
import type { ProgressTracker } from '../exam/progress.js';
import {
  EXAM_EVENTS,
  FLAG_EVENT_TYPES,
  INVIGILATOR_EVENTS,
  type AttemptEndedEvent,
  type InvigilatorDelivery,
  type RosterUpdate,
} from '../protocol.js';
import type { ClusterBus } from './cluster-bus.js';
import { attemptRoom, examRoom } from './rooms.js';
import type { ExamNamespace } from './socket-server.js';

/**
 * The domain's notifications, delivered on every node: student-facing messages through Socket.IO
 * rooms (the adapter fans them out), node-local work (timers, invigilator fan-out to sockets and
 * feeds) through the cluster bus.
 */
export class SocketNotifier implements ExamNotifier {
  private readonly flagTypes = new Set<string>(FLAG_EVENT_TYPES);

  constructor(
    private readonly exam: ExamNamespace,
    private readonly bus: ClusterBus,
    private readonly progress: () => ProgressTracker,
  ) {}

  private toInvigilators(delivery: InvigilatorDelivery): void {
    this.bus.publish('invigilators', delivery);
  }

  /** Each row names its exam too: one console may watch several exams with students in both. */
  roster(examId: number, update: RosterUpdate | RosterUpdate[]): void {
    const rows = (Array.isArray(update) ? update : [update]).map((u) => ({ ...u, examId }));
    this.toInvigilators({ examId, event: INVIGILATOR_EVENTS.rosterUpdate, payload: Array.isArray(update) ? rows : rows[0]! });
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
    this.bus.publish('ended', payload);
    this.toInvigilators({ examId: ev.examId, event: INVIGILATOR_EVENTS.ended, payload: { ...payload, examId: ev.examId } });
    this.roster(ev.examId, { attemptId: ev.attemptId, student: { id: ev.studentId }, status: ev.status });
  }

  proctorEvent(ev: Parameters<ExamNotifier['proctorEvent']>[0]): void {
    this.toInvigilators({
      examId: ev.examId,
      event: INVIGILATOR_EVENTS.proctorEvent,
      payload: {
        examId: ev.examId,
        attemptId: ev.attemptId,
        student: { id: ev.studentId },
        type: ev.type,
        detail: ev.detail,
        at: ev.at.toISOString(),
      },
    });
    if (this.flagTypes.has(ev.type)) this.progress().touch(ev.attemptId);
  }

  answerSaved(ev: Parameters<ExamNotifier['answerSaved']>[0]): void {
    this.progress().touch(ev.attemptId);
  }

  deadlinesChanged(examId: number, changes: DeadlineChange[]): void {
    this.bus.publish('deadlines', {
      changes: changes.map((c) => ({ attemptId: c.attemptId, deadlineAt: c.deadlineAt.toISOString() })),
    });
    this.roster(
      examId,
      changes.map((c) => ({ attemptId: c.attemptId, student: { id: c.studentId }, deadlineAt: c.deadlineAt.toISOString() })),
    );
  }

  messageToAttempt(ev: Parameters<ExamNotifier['messageToAttempt']>[0]): void {
    this.exam.to(attemptRoom(ev.attemptId)).emit(EXAM_EVENTS.message, { text: ev.text, from: ev.from, at: ev.at.toISOString() });
  }

  announce(ev: Parameters<ExamNotifier['announce']>[0]): void {
    this.exam.to(examRoom(ev.examId)).emit(EXAM_EVENTS.message, { text: ev.text, from: ev.from, at: ev.at.toISOString() });
  }
}
