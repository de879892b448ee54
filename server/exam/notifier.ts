import type { AttemptStatusWire, ProctorEventType } from '../protocol.js';

/**
 * How domain services tell the connected world that something happened, without knowing any
 * transport: the realtime layer implements it (Socket.IO rooms, across nodes through the adapter).
 */
export interface ExamNotifier {
  attemptEnded(ev: { examId: number; attemptId: number; studentId: number; status: AttemptStatusWire; reason: string }): void;
  proctorEvent(ev: {
    examId: number;
    attemptId: number;
    studentId: number;
    type: ProctorEventType | string;
    detail: Record<string, unknown> | null;
    at: Date;
  }): void;
  answerSaved(ev: { examId: number; attemptId: number; studentId: number; questionId: number }): void;
}

/** For processes without a realtime layer (CLI, some tests). */
export const silentNotifier: ExamNotifier = {
  attemptEnded() {},
  proctorEvent() {},
  answerSaved() {},
};
