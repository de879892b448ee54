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

/** How long roster rows wait to travel together: one bus message per exam per window, not one per change. */
export const ROSTER_BATCH_MS = 25;

/**
 * The domain's notifications, delivered on every node: student-facing messages through Socket.IO
 * rooms (the adapter fans them out), node-local work (timers, invigilator fan-out to sockets and
 * feeds) through the cluster bus.
 */
export class SocketNotifier implements ExamNotifier {
  private readonly flagTypes = new Set<string>(FLAG_EVENT_TYPES);
  /** Roster rows waiting for the window to end, per exam, in the order they happened. */
  private pendingRoster = new Map<number, RosterUpdate[]>();
  private rosterTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly exam: ExamNamespace,
    private readonly bus: ClusterBus,
    private readonly progress: () => ProgressTracker,
  ) {}

  private toInvigilators(delivery: InvigilatorDelivery): void {
    this.bus.publish('invigilators', delivery);
  }

  /**
   * Each row names its exam too: one console may watch several exams with students in both. Rows are
   * sent after at most {@link ROSTER_BATCH_MS}, every row of an exam in that window in one message (in
   * the order they happened): at an exam's start, hundreds of students a second connect and start on
   * each node, and one Redis message per change (received and decoded by every node) cost more than
   * the change itself.
   */
  roster(examId: number, update: RosterUpdate | RosterUpdate[]): void {
    const rows = (Array.isArray(update) ? update : [update]).map((u) => ({ ...u, examId }));
    const pending = this.pendingRoster.get(examId);
    if (pending) for (const row of rows) pending.push(row);
    else this.pendingRoster.set(examId, rows);
    this.rosterTimer ??= setTimeout(() => this.flushRoster(), ROSTER_BATCH_MS);
  }

  /** Rows already gathered over a window of their own (progress): sent now, after any rows waiting. */
  rosterNow(examId: number, update: RosterUpdate | RosterUpdate[]): void {
    this.roster(examId, update);
    this.flushRoster();
  }

  /** Sends the rows waiting now (also at shutdown, before the sockets close). */
  flushRoster(): void {
    if (this.rosterTimer) clearTimeout(this.rosterTimer);
    this.rosterTimer = null;
    const pending = this.pendingRoster;
    this.pendingRoster = new Map();
    for (const [examId, rows] of pending) {
      this.toInvigilators({ examId, event: INVIGILATOR_EVENTS.rosterUpdate, payload: rows.length === 1 ? rows[0]! : rows });
    }
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
