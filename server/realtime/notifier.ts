import type { Server } from 'socket.io';
import type { ExamNotifier } from '../exam/notifier.js';
import type { AttemptClocks } from './attempt-clocks.js';
import { attemptRoom } from './attempt-clocks.js';
import { examRoom } from './exam-namespace.js';

export const EXAM_NAMESPACE = '/exam';
export const INVIGILATOR_NAMESPACE = '/invigilator';

/**
 * The domain's notifications as Socket.IO broadcasts. Rooms reach every node through the adapter
 * (Redis when configured), so a student on node A hears what node B decided.
 */
export class SocketNotifier implements ExamNotifier {
  constructor(
    private readonly io: Server,
    private readonly clocks: AttemptClocks,
  ) {}

  attemptEnded(ev: Parameters<ExamNotifier['attemptEnded']>[0]): void {
    const payload = { attemptId: ev.attemptId, status: ev.status, reason: ev.reason };
    this.clocks.drop(ev.attemptId);
    this.io.of(EXAM_NAMESPACE).to(attemptRoom(ev.attemptId)).emit('attempt:ended', payload);
    this.io.of(INVIGILATOR_NAMESPACE).to(examRoom(ev.examId)).emit('attempt:ended', payload);
  }

  proctorEvent(ev: Parameters<ExamNotifier['proctorEvent']>[0]): void {
    this.io.of(INVIGILATOR_NAMESPACE).to(examRoom(ev.examId)).emit('proctor:event', {
      attemptId: ev.attemptId,
      student: { id: ev.studentId },
      type: ev.type,
      detail: ev.detail,
      at: ev.at.toISOString(),
    });
  }

  answerSaved(): void {
    // Invigilator progress (coalesced roster updates) arrives with the invigilator console.
  }
}
