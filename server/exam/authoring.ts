import { randomInt } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Enrollment, Exam, ExamInvigilator, Option, Question, Section, type ResultsRelease, type Role, type User } from '../../entities/index.js';
import {
  allExams,
  countAttempts,
  enrollmentsOf,
  examsInvigilatedBy,
  findExam,
  invigilatorsOf,
  loadExamTree,
  publishedExamsOf,
  usersByEmail as findUsersByEmail,
} from '../db/exam-store.js';
import { AppError, notFound } from '../errors.js';
import type { CreateExamBody, PatchExamBody } from '../protocol.js';

type SectionsInput = CreateExamBody['sections'];

/** The exam with its whole tree, key included: for admins and invigilators, never for students. */
export interface ExamAdminView {
  id: number;
  title: string;
  durationSeconds: number;
  gracePeriodSeconds: number;
  opensAt: string | null;
  closesAt: string | null;
  shuffleQuestions: boolean;
  shuffleOptions: boolean;
  isPublished: boolean;
  version: number;
  resultsRelease: ResultsRelease;
  resultsReleasedAt: string | null;
  questionCount: number;
  maxScore: number;
  sections: {
    id: number;
    title: string;
    questions: { id: number; text: string; points: number; options: { id: number; text: string; isCorrect: boolean }[] }[];
  }[];
}

export interface ExamSummary {
  id: number;
  title: string;
  durationSeconds: number;
  gracePeriodSeconds: number;
  opensAt: string | null;
  closesAt: string | null;
  isPublished: boolean;
  version: number;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function examSummary(exam: Exam): ExamSummary {
  return {
    id: exam.id,
    title: exam.title,
    durationSeconds: exam.durationSeconds,
    gracePeriodSeconds: exam.gracePeriodSeconds,
    opensAt: iso(exam.opensAt),
    closesAt: iso(exam.closesAt),
    isPublished: exam.isPublished,
    version: exam.version,
  };
}

/** A freshly built tree holds its items in creation order (options are created shuffled): sort. */
const byPosition = <T extends { position: number }>(items: T[]): T[] => [...items].sort((a, b) => a.position - b.position);

/** Serializes an exam whose tree is loaded (see {@link loadExamTree}). */
export function examAdminView(exam: Exam): ExamAdminView {
  let questionCount = 0;
  let maxScore = 0;
  const sections = byPosition(exam.sections.getItems()).map((s) => ({
    id: s.id,
    title: s.title,
    questions: byPosition(s.questions.getItems()).map((q) => {
      questionCount++;
      maxScore += q.points;
      return {
        id: q.id,
        text: q.text,
        points: q.points,
        options: byPosition(q.options.getItems()).map((o) => ({ id: o.id, text: o.text, isCorrect: o.isCorrect })),
      };
    }),
  }));
  return {
    ...examSummary(exam),
    shuffleQuestions: exam.shuffleQuestions,
    shuffleOptions: exam.shuffleOptions,
    resultsRelease: exam.resultsRelease,
    resultsReleasedAt: iso(exam.resultsReleasedAt),
    questionCount,
    maxScore,
    sections,
  };
}

export { loadExamTree };

/** Rules JSON Schema cannot say: one correct option per question, a window that closes after it opens. */
function checkExamRules(fields: { opensAt?: Date | null; closesAt?: Date | null }, sections?: SectionsInput) {
  if (fields.opensAt && fields.closesAt && fields.closesAt <= fields.opensAt) {
    throw new AppError('VALIDATION', 'closesAt must be later than opensAt', {
      details: [{ path: '/closesAt', message: 'must be later than opensAt' }],
    });
  }
  sections?.forEach((section, si) =>
    section.questions.forEach((question, qi) => {
      const correct = question.options.filter((o) => o.isCorrect).length;
      if (correct !== 1) {
        const path = `/sections/${si}/questions/${qi}/options`;
        throw new AppError('VALIDATION', `${path} must have exactly one option with isCorrect: true (has ${correct})`, {
          details: [{ path, message: `must have exactly one correct option (has ${correct})` }],
        });
      }
    }),
  );
}

const toDate = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : new Date(v));

/**
 * Creates the tree's entities. Options are created (so numbered by the database) in a random order,
 * while `position` keeps the author's: otherwise an author who always writes the right answer first
 * would give it the lowest id of its question, readable by students whatever the display order.
 */
function buildTree(em: EntityManager, exam: Exam, sections: SectionsInput): void {
  sections.forEach((s, si) => {
    const section = em.create(Section, { exam, title: s.title, position: si });
    s.questions.forEach((q, qi) => {
      const question = em.create(Question, { section, text: q.text, points: q.points ?? 1, position: qi });
      const order = q.options.map((_, oi) => oi);
      for (let i = order.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const oi of order) {
        const o = q.options[oi]!;
        em.create(Option, { question, text: o.text, isCorrect: o.isCorrect, position: oi });
      }
    });
  });
}

/** Releases an exam's per-question results to its students now (whatever its rule). */
export async function releaseResults(em: EntityManager, examId: number): Promise<Exam> {
  const exam = await loadExamTree(em, examId);
  if (!exam) throw notFound('Exam not found');
  exam.resultsReleasedAt ??= new Date();
  await em.flush();
  return exam;
}

/** Creates a whole exam, tree included, in one unit of work (one flush, batched inserts). */
export async function createExam(em: EntityManager, input: CreateExamBody): Promise<Exam> {
  const opensAt = toDate(input.opensAt) ?? null;
  const closesAt = toDate(input.closesAt) ?? null;
  checkExamRules({ opensAt, closesAt }, input.sections);
  const now = new Date();
  const exam = em.create(Exam, {
    title: input.title,
    durationSeconds: input.durationSeconds,
    gracePeriodSeconds: input.gracePeriodSeconds ?? 0,
    opensAt,
    closesAt,
    shuffleQuestions: input.shuffleQuestions ?? false,
    shuffleOptions: input.shuffleOptions ?? false,
    resultsRelease: input.resultsRelease ?? 'window_close',
    isPublished: false,
    version: 1,
    createdAt: now,
    updatedAt: now,
  });
  buildTree(em, exam, input.sections);
  await em.flush();
  return exam;
}

/**
 * Edits an exam; every edit bumps `version`, which retires cached question sets. Replacing the
 * question tree is refused once any attempt exists: answers point at its questions.
 */
export async function updateExam(em: EntityManager, examId: number, patch: PatchExamBody): Promise<Exam> {
  const exam = await loadExamTree(em, examId);
  if (!exam) throw notFound('Exam not found');
  const opensAt = toDate(patch.opensAt);
  const closesAt = toDate(patch.closesAt);
  checkExamRules(
    { opensAt: opensAt === undefined ? exam.opensAt : opensAt, closesAt: closesAt === undefined ? exam.closesAt : closesAt },
    patch.sections,
  );
  if (patch.sections) {
    const attempts = await countAttempts(em, examId);
    if (attempts > 0) {
      throw new AppError('CONFLICT', 'The questions of an exam cannot be replaced once students have started it');
    }
    exam.sections.removeAll();
    buildTree(em, exam, patch.sections);
  }
  if (patch.title !== undefined) exam.title = patch.title;
  if (patch.durationSeconds !== undefined) exam.durationSeconds = patch.durationSeconds;
  if (patch.gracePeriodSeconds !== undefined) exam.gracePeriodSeconds = patch.gracePeriodSeconds;
  if (opensAt !== undefined) exam.opensAt = opensAt;
  if (closesAt !== undefined) exam.closesAt = closesAt;
  if (patch.shuffleQuestions !== undefined) exam.shuffleQuestions = patch.shuffleQuestions;
  if (patch.shuffleOptions !== undefined) exam.shuffleOptions = patch.shuffleOptions;
  if (patch.resultsRelease !== undefined) exam.resultsRelease = patch.resultsRelease;
  exam.version += 1;
  exam.updatedAt = new Date();
  await em.flush();
  return exam;
}

export async function publishExam(em: EntityManager, examId: number): Promise<Exam> {
  const exam = await findExam(em, examId);
  if (!exam) throw notFound('Exam not found');
  if (!exam.isPublished) {
    exam.isPublished = true;
    exam.updatedAt = new Date();
    await em.flush();
  }
  return exam;
}

/** Finds users by e-mail; every address must belong to a user of `role`, or nothing changes. */
async function usersByEmail(em: EntityManager, emails: string[], role: Role, field: string): Promise<Map<string, User>> {
  const wanted = [...new Set(emails.map((e) => e.toLowerCase()))];
  const byEmail = await findUsersByEmail(em, wanted);
  const bad = wanted.filter((e) => byEmail.get(e)?.role !== role);
  if (bad.length) {
    throw new AppError('VALIDATION', `No ${role} with the e-mail ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''}`, {
      details: bad.slice(0, 50).map((e) => ({ path: field, message: `${e} is not a known ${role}` })),
    });
  }
  return byEmail;
}

/** Replaces the exam's enrolled students (by e-mail) with their extra time. */
export async function setEnrollments(
  em: EntityManager,
  examId: number,
  entries: { email: string; extraTimeSeconds?: number }[],
): Promise<{ enrolled: number }> {
  const exam = await findExam(em, examId);
  if (!exam) throw notFound('Exam not found');
  const users = await usersByEmail(
    em,
    entries.map((e) => e.email),
    'student',
    '/enrollments',
  );
  const extra = new Map(entries.map((e) => [e.email.toLowerCase(), e.extraTimeSeconds ?? 0]));
  const existing = await enrollmentsOf(em, examId);
  const byStudent = new Map(existing.map((e) => [e.student.id, e]));
  const keep = new Set<number>();
  for (const [email, seconds] of extra) {
    const student = users.get(email)!;
    keep.add(student.id);
    const enrollment = byStudent.get(student.id) ?? em.create(Enrollment, { exam, student, extraTimeSeconds: seconds });
    enrollment.extraTimeSeconds = seconds;
  }
  for (const e of existing) if (!keep.has(e.student.id)) em.remove(e);
  await em.flush();
  return { enrolled: keep.size };
}

/** Replaces the invigilators assigned to the exam (by e-mail). */
export async function setInvigilators(
  em: EntityManager,
  examId: number,
  emails: string[],
): Promise<{ invigilators: number; invigilatorIds: number[] }> {
  const exam = await findExam(em, examId);
  if (!exam) throw notFound('Exam not found');
  const users = await usersByEmail(em, emails, 'invigilator', '/emails');
  const existing = await invigilatorsOf(em, examId);
  const assigned = new Set(existing.map((e) => e.invigilator.id));
  const keep = new Set([...users.values()].map((u) => u.id));
  for (const user of users.values()) {
    if (!assigned.has(user.id)) em.create(ExamInvigilator, { exam, invigilator: user });
  }
  for (const e of existing) if (!keep.has(e.invigilator.id)) em.remove(e);
  await em.flush();
  return { invigilators: keep.size, invigilatorIds: [...keep] };
}

/** The exams a user may see: admins all, invigilators their assigned ones, students published and enrolled. */
export async function listExamsFor(em: EntityManager, user: { id: number; role: Role }): Promise<Exam[]> {
  switch (user.role) {
    case 'admin':
      return allExams(em);
    case 'invigilator':
      return examsInvigilatedBy(em, user.id);
    case 'student':
      return publishedExamsOf(em, user.id);
  }
}
