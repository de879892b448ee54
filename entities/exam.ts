import { Collection, EntitySchema } from '@mikro-orm/core';

export const RESULTS_RELEASES = ['immediate', 'window_close', 'manual'] as const;
export type ResultsRelease = (typeof RESULTS_RELEASES)[number];

/** An exam and its question tree (Exam -> Section -> Question -> Option). */
export class Exam {
  id!: number;
  title!: string;
  durationSeconds!: number;
  /** Answers are still accepted this long after an attempt's deadline (network slack). */
  gracePeriodSeconds = 0;
  opensAt: Date | null = null;
  closesAt: Date | null = null;
  shuffleQuestions = false;
  shuffleOptions = false;
  isPublished = false;
  /** Bumped by every edit; the question cache is keyed by it. */
  version = 1;
  /**
   * When students see which of their answers were right: `immediate` (once their attempt ends),
   * `window_close` (once `closesAt` has passed; by hand when the exam has no closing time) or `manual`
   * (once an admin releases them). Their score is never hidden: only per-question correctness.
   */
  resultsRelease: ResultsRelease = 'window_close';
  /** Set when an admin releases the results by hand. */
  resultsReleasedAt: Date | null = null;
  createdAt: Date = new Date();
  updatedAt: Date = new Date();
  sections = new Collection<Section>(this);
}

export class Section {
  id!: number;
  exam!: Exam;
  title!: string;
  position!: number;
  questions = new Collection<Question>(this);
}

export class Question {
  id!: number;
  section!: Section;
  text!: string;
  points = 1;
  position!: number;
  options = new Collection<Option>(this);
}

export class Option {
  id!: number;
  question!: Question;
  text!: string;
  isCorrect = false;
  position!: number;
}

export const ExamSchema = new EntitySchema<Exam>({
  class: Exam,
  tableName: 'exams',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    title: { type: 'string', length: 300 },
    durationSeconds: { type: 'integer' },
    gracePeriodSeconds: { type: 'integer', default: 0 },
    opensAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    closesAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    shuffleQuestions: { type: 'boolean', default: false },
    shuffleOptions: { type: 'boolean', default: false },
    isPublished: { type: 'boolean', default: false, index: true },
    version: { type: 'integer', default: 1 },
    resultsRelease: { type: 'string', length: 20, default: 'window_close' },
    resultsReleasedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    sections: {
      kind: '1:m',
      entity: () => Section,
      mappedBy: 'exam',
      orderBy: { position: 'asc' },
      orphanRemoval: true,
    },
  },
});

export const SectionSchema = new EntitySchema<Section>({
  class: Section,
  tableName: 'sections',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    exam: { kind: 'm:1', entity: () => Exam, deleteRule: 'cascade', index: true },
    title: { type: 'string', length: 300 },
    position: { type: 'integer' },
    questions: {
      kind: '1:m',
      entity: () => Question,
      mappedBy: 'section',
      orderBy: { position: 'asc' },
      orphanRemoval: true,
    },
  },
});

export const QuestionSchema = new EntitySchema<Question>({
  class: Question,
  tableName: 'questions',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    section: { kind: 'm:1', entity: () => Section, deleteRule: 'cascade', index: true },
    text: { type: 'text' },
    points: { type: 'integer', default: 1 },
    position: { type: 'integer' },
    options: {
      kind: '1:m',
      entity: () => Option,
      mappedBy: 'question',
      orderBy: { position: 'asc' },
      orphanRemoval: true,
    },
  },
});

export const OptionSchema = new EntitySchema<Option>({
  class: Option,
  tableName: 'options',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    question: { kind: 'm:1', entity: () => Question, deleteRule: 'cascade', index: true },
    text: { type: 'text' },
    isCorrect: { type: 'boolean', default: false },
    position: { type: 'integer' },
  },
});
