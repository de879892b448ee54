import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { Attempt } from './attempt.js';
import { Exam } from './exam.js';
import { User } from './user.js';

/**
 * The audit log: proctoring signals from students' browsers and every invigilator or system action
 * (extensions, messages, terminations, auto-submits). `actor` is null for the system.
 */
export class ProctorEvent {
  id!: number;
  exam!: Exam;
  attempt: Attempt | null = null;
  type!: string;
  detail: Record<string, unknown> | null = null;
  at: Date = new Date();
  actor: User | null = null;
  /** The client's name for an invigilator action (idempotency key), unique per actor; null otherwise. */
  requestId: string | null = null;
}

export const ProctorEventSchema = new EntitySchema<ProctorEvent>({
  class: ProctorEvent,
  tableName: 'proctor_events',
  indexes: [{ name: 'proctor_events_exam_id_at_index', properties: ['exam', 'at'] }],
  uniques: [{ name: 'proctor_events_actor_id_request_id_unique', properties: ['actor', 'requestId'] }],
  properties: {
    id: { type: new BigIntType('number'), primary: true, autoincrement: true },
    exam: { kind: 'm:1', entity: () => Exam, deleteRule: 'cascade' },
    attempt: { kind: 'm:1', entity: () => Attempt, nullable: true, deleteRule: 'cascade', index: true },
    type: { type: 'string', length: 64 },
    detail: { type: 'json', nullable: true },
    at: { type: 'datetime', columnType: 'timestamptz' },
    actor: { kind: 'm:1', entity: () => User, nullable: true, deleteRule: 'set null' },
    requestId: { type: 'string', length: 64, nullable: true },
  },
});
