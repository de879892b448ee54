import type { EntityManager } from '@mikro-orm/postgresql';
import { Enrollment, ExamInvigilator, User, type Role } from '../../entities/index.js';
import { enrollmentsOf, examByTitle, invigilatorsOf, usersByEmail } from '../db/exam-store.js';
import { hashPassword } from '../auth/passwords.js';
import type { CreateExamBody } from '../protocol.js';
import { createExam } from './authoring.js';

export const DEMO_EXAM_TITLE = 'Demo exam';
export const DEMO_ADMIN_EMAIL = 'admin@example.com';
export const DEMO_INVIGILATOR_EMAIL = 'invigilator@example.com';
export const demoStudentEmail = (n: number) => `student${n}@example.com`;

type Q = [text: string, correct: string, ...wrong: string[]];

const SECTIONS: { title: string; questions: Q[] }[] = [
  {
    title: 'Science',
    questions: [
      ['What is the chemical symbol of gold?', 'Au', 'Ag', 'Gd', 'Go'],
      ['Which planet is closest to the Sun?', 'Mercury', 'Venus', 'Mars', 'Earth'],
      ['What gas do plants take in for photosynthesis?', 'Carbon dioxide', 'Oxygen', 'Nitrogen', 'Helium'],
      ['How many bones are in an adult human body?', '206', '196', '212', '188'],
      ['What is the speed of light in vacuum, roughly?', '300,000 km/s', '30,000 km/s', '3,000 km/s', '3,000,000 km/s'],
      ['Which particle carries a negative charge?', 'Electron', 'Proton', 'Neutron', 'Photon'],
      ['What is H2O commonly called?', 'Water', 'Hydrogen peroxide', 'Salt', 'Ozone'],
      ['Which organ pumps blood through the body?', 'Heart', 'Liver', 'Lung', 'Kidney'],
    ],
  },
  {
    title: 'Mathematics',
    questions: [
      ['What is 7 × 8?', '56', '54', '48', '64'],
      ['What is the square root of 144?', '12', '14', '11', '16'],
      ['What is 15% of 200?', '30', '15', '20', '35'],
      ['How many degrees are in the angles of a triangle?', '180', '90', '360', '270'],
      ['What is 2 to the power of 10?', '1024', '1000', '512', '2048'],
      ['Which of these is a prime number?', '13', '21', '27', '33'],
      ['What is 0.5 as a fraction?', '1/2', '1/5', '1/3', '2/5'],
      ['What is the value of π to two decimals?', '3.14', '3.41', '3.12', '3.16'],
    ],
  },
  {
    title: 'Geography',
    questions: [
      ['What is the capital of Japan?', 'Tokyo', 'Kyoto', 'Osaka', 'Nagoya'],
      ['Which is the longest river in Africa?', 'Nile', 'Congo', 'Niger', 'Zambezi'],
      ['On which continent is Chile?', 'South America', 'Africa', 'Europe', 'Oceania'],
      ['Which ocean is the largest?', 'Pacific', 'Atlantic', 'Indian', 'Arctic'],
      ['What is the capital of Canada?', 'Ottawa', 'Toronto', 'Vancouver', 'Montreal'],
      ['Which country has the most people?', 'India', 'United States', 'Brazil', 'Russia'],
      ['Mount Kilimanjaro is in which country?', 'Tanzania', 'Kenya', 'Uganda', 'Ethiopia'],
      ['Which desert is the largest hot desert?', 'Sahara', 'Gobi', 'Kalahari', 'Atacama'],
    ],
  },
];

export function demoExamInput(): CreateExamBody {
  return {
    title: DEMO_EXAM_TITLE,
    durationSeconds: 30 * 60,
    gracePeriodSeconds: 5,
    shuffleQuestions: false,
    shuffleOptions: true,
    sections: SECTIONS.map((s) => ({
      title: s.title,
      // The right answer moves around (A, B, C, D, A, …), as in any real exam.
      questions: s.questions.map(([text, correct, ...wrong], qi) => {
        const options = wrong.map((w) => ({ text: w, isCorrect: false }));
        options.splice(qi % (wrong.length + 1), 0, { text: correct, isCorrect: true });
        return { text, points: 1, options };
      }),
    })),
  };
}

export interface SeedOptions {
  students: number;
  password: string;
}

export interface SeedResult {
  usersCreated: number;
  examCreated: boolean;
  enrollmentsCreated: number;
  examId: number;
}

/** Hashes with bounded parallelism: libuv runs 4 scrypt jobs at a time anyway. */
async function hashAll(count: number, password: string): Promise<string[]> {
  const out: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await hashPassword(password);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
  return out;
}

/**
 * Creates the demo users, the published demo exam, the enrollments and the invigilator assignment,
 * adding only what is missing: running it twice leaves one copy of everything.
 */
export async function seedDemo(em: EntityManager, opts: SeedOptions): Promise<SeedResult> {
  const wanted: { email: string; name: string; role: Role }[] = [
    { email: DEMO_ADMIN_EMAIL, name: 'Ada Admin', role: 'admin' },
    { email: DEMO_INVIGILATOR_EMAIL, name: 'Ivo Invigilator', role: 'invigilator' },
    ...Array.from({ length: opts.students }, (_, i) => ({
      email: demoStudentEmail(i + 1),
      name: `Student ${i + 1}`,
      role: 'student' as const,
    })),
  ];
  const byEmail = await usersByEmail(em, wanted.map((w) => w.email));
  const missing = wanted.filter((w) => !byEmail.has(w.email));
  const hashes = await hashAll(missing.length, opts.password);
  missing.forEach((w, i) => byEmail.set(w.email, em.create(User, { ...w, passwordHash: hashes[i]!, createdAt: new Date() })));
  await em.flush();

  let exam = await examByTitle(em, DEMO_EXAM_TITLE);
  const examCreated = !exam;
  if (!exam) {
    exam = await createExam(em, demoExamInput());
    exam.isPublished = true;
  }

  const students = wanted.filter((w) => w.role === 'student').map((w) => byEmail.get(w.email)!);
  const enrolled = new Set((await enrollmentsOf(em, exam.id)).map((e) => e.student.id));
  const toEnroll = students.filter((s) => !enrolled.has(s.id));
  for (const student of toEnroll) em.create(Enrollment, { exam, student, extraTimeSeconds: 0 });

  const invigilator = byEmail.get(DEMO_INVIGILATOR_EMAIL)!;
  const assigned = (await invigilatorsOf(em, exam.id)).some((i) => i.invigilator.id === invigilator.id);
  if (!assigned) em.create(ExamInvigilator, { exam, invigilator });
  await em.flush();

  return { usersCreated: missing.length, examCreated, enrollmentsCreated: toEnroll.length, examId: exam.id };
}
