import type { Exam } from '../../entities/index.js';
import type { ExamLoader, QuestionSetCodec } from '../cache/question-cache.js';
import type { StudentExamView } from '../protocol.js';

/** The server-side answer key of one exam version: never sent to a student before the attempt ends. */
export interface AnswerKey {
  /** questionId -> the correct option, the question's points, and every option id it has. */
  questions: Map<number, { correctOptionId: number; points: number; optionIds: Set<number> }>;
  maxScore: number;
}

/** One exam version as students are served it: what they may see, and the key that stays here. */
export interface QuestionSet {
  view: StudentExamView;
  key: AnswerKey;
}

/** Splits a loaded exam tree (see loadExamTree) into what a student may see and the answer key. */
export function questionSetOf(exam: Exam): QuestionSet {
  const key: AnswerKey = { questions: new Map(), maxScore: 0 };
  const view: StudentExamView = {
    id: exam.id,
    title: exam.title,
    sections: exam.sections.getItems().map((s) => ({
      id: s.id,
      title: s.title,
      questions: s.questions.getItems().map((q) => {
        const options = q.options.getItems();
        const correct = options.find((o) => o.isCorrect);
        key.questions.set(q.id, {
          correctOptionId: correct?.id ?? 0,
          points: q.points,
          optionIds: new Set(options.map((o) => o.id)),
        });
        key.maxScore += q.points;
        return { id: q.id, text: q.text, points: q.points, options: options.map((o) => ({ id: o.id, text: o.text })) };
      }),
    })),
  };
  return { view, key };
}

/** A question set in and out of the cache's Redis form (the key as plain arrays). */
export const questionSetCodec: QuestionSetCodec<QuestionSet> = {
  toWire: ({ view, key }) => ({
    view,
    key: { q: [...key.questions].map(([id, q]) => [id, q.correctOptionId, q.points, [...q.optionIds]]), max: key.maxScore },
  }),
  fromWire: (view, key) => ({
    view,
    key: {
      questions: new Map(key.q.map(([id, correct, points, options]) => [id, { correctOptionId: correct, points, optionIds: new Set(options) }])),
      maxScore: key.max,
    },
  }),
};

/** mulberry32: a small seeded PRNG, so a shuffle is the same every time for one attempt. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The student's view of the exam for one attempt: questions (within each section) and options shuffled
 * when the exam says so, with a seed derived from the attempt, so a resume shows the same order.
 */
export function viewForAttempt(
  view: StudentExamView,
  attemptId: number,
  flags: { shuffleQuestions: boolean; shuffleOptions: boolean },
): StudentExamView {
  if (!flags.shuffleQuestions && !flags.shuffleOptions) return view;
  const rand = prng(Math.imul(attemptId, 2654435761) ^ view.id);
  return {
    ...view,
    sections: view.sections.map((s) => {
      const questions = flags.shuffleQuestions ? shuffled(s.questions, rand) : s.questions;
      return {
        ...s,
        questions: questions.map((q) => (flags.shuffleOptions ? { ...q, options: shuffled(q.options, rand) } : q)),
      };
    }),
  };
}

/** The question cache's loader: an exam's current version, read from the database (one statement). */
export function questionSetLoader(exams: { tree(examId: number): Promise<Exam | null> }): ExamLoader<QuestionSet> {
  return async (examId) => {
    const exam = await exams.tree(examId);
    return exam ? { version: exam.version, value: questionSetOf(exam) } : null;
  };
}
