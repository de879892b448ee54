import { AttemptAnswerSchema, AttemptSchema } from './attempt.js';
import { EnrollmentSchema, ExamInvigilatorSchema } from './enrollment.js';
import { ExamSchema, OptionSchema, QuestionSchema, SectionSchema } from './exam.js';
import { ProctorEventSchema } from './proctor-event.js';
import { UserSchema } from './user.js';

export * from './attempt.js';
export * from './enrollment.js';
export * from './exam.js';
export * from './proctor-event.js';
export * from './user.js';

/** Every entity of the domain, in the order MikroORM discovers them. */
export const ENTITY_SCHEMAS = [
  UserSchema,
  ExamSchema,
  SectionSchema,
  QuestionSchema,
  OptionSchema,
  EnrollmentSchema,
  ExamInvigilatorSchema,
  AttemptSchema,
  AttemptAnswerSchema,
  ProctorEventSchema,
];
