import { EntitySchema } from '@mikro-orm/core';
import { Exam, Option, Question } from './exam.js';
import { User } from './user.js';

export const ATTEMPT_STATUSES = ['in_progress', 'submitted', 'expired', 'terminated'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/**
 * One student's sitting of one exam (at most one per student and exam). The deadline is set once at
 * start and moves only through audited extensions.
 */
export class Attempt {
  id!: number;
  exam!: Exam;
  student!: User;
  status: AttemptStatus = 'in_progress';
  startedAt!: Date;
  deadlineAt!: Date;
  submittedAt: Date | null = null;
  score: number | null = null;
  maxScore: number | null = null;
}

/** The latest choice of an attempt for one question; the highest `seq` wins. */
export class AttemptAnswer {
  attempt!: Attempt;
  question!: Question;
  option: Option | null = null;
  seq!: number;
  answeredAt!: Date;
}

export const AttemptSchema = new EntitySchema<Attempt>({
  class: Attempt,
  tableName: 'attempts',
  uniques: [{ name: 'attempts_exam_id_student_id_unique', properties: ['exam', 'student'] }],
  indexes: [
    // The deadline sweeper claims `status = 'in_progress' AND deadline_at < …` on every node.
    { name: 'attempts_status_deadline_at_index', properties: ['status', 'deadlineAt'] },
  ],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    exam: { kind: 'm:1', entity: () => Exam, deleteRule: 'cascade' },
    student: { kind: 'm:1', entity: () => User, deleteRule: 'cascade', index: true },
    status: { enum: true, items: () => [...ATTEMPT_STATUSES], type: 'string', default: 'in_progress' },
    startedAt: { type: 'datetime', columnType: 'timestamptz' },
    deadlineAt: { type: 'datetime', columnType: 'timestamptz' },
    submittedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    score: { type: 'integer', nullable: true },
    maxScore: { type: 'integer', nullable: true },
  },
});

export const AttemptAnswerSchema = new EntitySchema<AttemptAnswer>({
  class: AttemptAnswer,
  tableName: 'attempt_answers',
  properties: {
    // The composite primary key is the unique (attempt_id, question_id) the upsert conflicts on.
    attempt: { kind: 'm:1', entity: () => Attempt, primary: true, deleteRule: 'cascade' },
    question: { kind: 'm:1', entity: () => Question, primary: true, deleteRule: 'cascade' },
    option: { kind: 'm:1', entity: () => Option, nullable: true, deleteRule: 'set null' },
    seq: { type: 'integer' },
    answeredAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
