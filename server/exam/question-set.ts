import type { EntityManager } from '@mikro-orm/postgresql';
import type { AnswerKey } from '../cache/question-cache.js';
import type { StudentExamView } from '../protocol.js';
import { loadExamTree } from './authoring.js';

/**
 * Reads an exam's tree (one statement) and splits it into what a student may see and the answer key,
 * which stays on the server.
 */
export async function loadQuestionSet(
  em: EntityManager,
  examId: number,
): Promise<{ version: number; view: StudentExamView; key: AnswerKey } | null> {
  const exam = await loadExamTree(em, examId);
  if (!exam) return null;
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
  return { version: exam.version, view, key };
}

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
