import type { EntityManager } from '@mikro-orm/postgresql';
import { Attempt, Enrollment, Exam, ExamInvigilator, User } from '../../entities/index.js';

/**
 * Reads of exams and the people around them, through MikroORM. The functions take the caller's
 * EntityManager, so what they load joins that unit of work (authoring edits the entities it read);
 * {@link ExamStore} serves the long-lived services, a fork per call.
 */

/**
 * Loads an exam and its whole tree (sections -> questions -> options) in one SQL statement, whatever
 * the number of questions: a joined populate, ordered by position at every level.
 */
export async function loadExamTree(em: EntityManager, examId: number): Promise<Exam | null> {
  return em.findOne(
    Exam,
    { id: examId },
    {
      populate: ['sections.questions.options'],
      strategy: 'joined',
      orderBy: {
        sections: { position: 'asc', questions: { position: 'asc', options: { position: 'asc' } } },
      },
    },
  );
}

export async function findExam(em: EntityManager, examId: number): Promise<Exam | null> {
  return em.findOne(Exam, { id: examId });
}

/** The oldest exam with this title (the demo seed finds its exam so). */
export const examByTitle = (em: EntityManager, title: string) => em.findOne(Exam, { title }, { orderBy: { id: 'asc' } });

/** How many attempts an exam has (its questions are frozen once it has any). */
export async function countAttempts(em: EntityManager, examId: number): Promise<number> {
  return em.count(Attempt, { exam: examId });
}

/** The users with these e-mail addresses (lower-cased), by address. */
export async function usersByEmail(em: EntityManager, emails: readonly string[]): Promise<Map<string, User>> {
  const users = emails.length ? await em.find(User, { email: { $in: [...emails] } }) : [];
  return new Map(users.map((u) => [u.email, u]));
}

export const enrollmentsOf = (em: EntityManager, examId: number) => em.find(Enrollment, { exam: examId });
export const invigilatorsOf = (em: EntityManager, examId: number) => em.find(ExamInvigilator, { exam: examId });

/** Every exam, by id. */
export const allExams = (em: EntityManager) => em.find(Exam, {}, { orderBy: { id: 'asc' } });

/** The exams an invigilator is assigned to, by id. */
export async function examsInvigilatedBy(em: EntityManager, userId: number): Promise<Exam[]> {
  const links = await em.find(ExamInvigilator, { invigilator: userId }, { populate: ['exam'], orderBy: { exam: { id: 'asc' } } });
  return links.map((l) => l.exam);
}

/** The published exams a student is enrolled in, by id. */
export async function publishedExamsOf(em: EntityManager, studentId: number): Promise<Exam[]> {
  const links = await em.find(
    Enrollment,
    { student: studentId, exam: { isPublished: true } },
    { populate: ['exam'], orderBy: { exam: { id: 'asc' } } },
  );
  return links.map((l) => l.exam);
}

/** The exam reads the long-lived services need. */
export class ExamStore {
  constructor(private readonly em: EntityManager) {}

  /** An exam's id and title; null when there is none. */
  async title(examId: number): Promise<{ id: number; title: string } | null> {
    const exam = await this.em.fork().findOne(Exam, { id: examId }, { fields: ['id', 'title'] });
    return exam ? { id: exam.id, title: exam.title } : null;
  }

  /** True when the user is assigned to invigilate the exam (one statement). */
  async isInvigilator(examId: number, userId: number): Promise<boolean> {
    return (await this.em.fork().count(ExamInvigilator, { exam: examId, invigilator: userId })) > 0;
  }

  /** Who is assigned to each of `examIds` (one statement); an exam with nobody maps to an empty set. */
  async invigilatorsOf(examIds: readonly number[]): Promise<Map<number, Set<number>>> {
    const out = new Map(examIds.map((id) => [id, new Set<number>()]));
    if (examIds.length === 0) return out;
    const links = await this.em.fork().find(ExamInvigilator, { exam: { $in: [...examIds] } }, { fields: ['exam', 'invigilator'] });
    for (const l of links) out.get(l.exam.id)?.add(l.invigilator.id);
    return out;
  }

  /** The exam's tree (one statement), in an EntityManager of its own. */
  tree(examId: number): Promise<Exam | null> {
    return loadExamTree(this.em.fork(), examId);
  }
}
