import { EntitySchema } from '@mikro-orm/core';
import { Exam } from './exam.js';
import { User } from './user.js';

/** A student allowed to sit an exam, with their own extra time (accommodations). */
export class Enrollment {
  id!: number;
  exam!: Exam;
  student!: User;
  extraTimeSeconds = 0;
}

/** An invigilator assigned to watch and act on an exam. */
export class ExamInvigilator {
  id!: number;
  exam!: Exam;
  invigilator!: User;
}

export const EnrollmentSchema = new EntitySchema<Enrollment>({
  class: Enrollment,
  tableName: 'enrollments',
  uniques: [{ properties: ['exam', 'student'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    exam: { kind: 'm:1', entity: () => Exam, deleteRule: 'cascade' },
    student: { kind: 'm:1', entity: () => User, deleteRule: 'cascade', index: true },
    extraTimeSeconds: { type: 'integer', default: 0 },
  },
});

export const ExamInvigilatorSchema = new EntitySchema<ExamInvigilator>({
  class: ExamInvigilator,
  tableName: 'exam_invigilators',
  uniques: [{ properties: ['exam', 'invigilator'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    exam: { kind: 'm:1', entity: () => Exam, deleteRule: 'cascade' },
    invigilator: { kind: 'm:1', entity: () => User, deleteRule: 'cascade', index: true },
  },
});
