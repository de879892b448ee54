import type { AttemptStatusWire } from '../protocol.js';

export interface DeadlineChange {
  attemptId: number;
  studentId: number;
  deadlineAt: Date;
}

/**
 * How domain services tell the connected world that something happened, without knowing any
 * transport: the realtime layer implements it (Socket.IO rooms and a cluster bus, so that every node
 * hears it whichever node decided).
 */
export interface ExamNotifier {
  attemptStarted(ev: { examId: number; attemptId: number; studentId: number; deadlineAt: Date }): void;
  attemptEnded(ev: { examId: number; attemptId: number; studentId: number; status: AttemptStatusWire; reason: string }): void;
  proctorEvent(ev: { examId: number; attemptId: number; studentId: number; type: string; detail: Record<string, unknown> | null; at: Date }): void;
  /** An answer was committed (progress for the invigilators, coalesced by the caller). */
  answerSaved(ev: { examId: number; attemptId: number; studentId: number; questionId: number }): void;
  deadlinesChanged(examId: number, changes: DeadlineChange[]): void;
  messageToAttempt(ev: { examId: number; attemptId: number; text: string; from: string; at: Date }): void;
  announce(ev: { examId: number; text: string; from: string; at: Date }): void;
}
