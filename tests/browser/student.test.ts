import type { Browser, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../../server/exam/authoring.js';
import { createTestApp, examBody, type TestApp } from '../helpers/app.js';
import { createExam, createUsers, eventually, questionsOf, type TestUser } from '../helpers/exam.js';
import { sql } from '../helpers/pg.js';
import {
  expectAccessible,
  expectAttribute,
  expectChecked,
  expectContains,
  expectCount,
  expectText,
  launchBrowser,
  newPage,
  screenshot,
  shownSeconds,
  signIn,
  unexpectedErrors,
} from './browser.js';

let t: TestApp;
let browser: Browser;
let students: TestUser[];
let exam: ExamAdminView;
let admin: TestUser;

beforeAll(async () => {
  t = await createTestApp({ redis: true });
  await t.listen();
  admin = (await createUsers(t.app, 1, 'admin'))[0]!;
  students = await createUsers(t.app, 4, 'student');
  exam = await createExam(t.app, admin, examBody(6, 2, { title: 'Browser exam', durationSeconds: 1200 }), { enroll: students });
  browser = await launchBrowser();
});

/**
 * How far the page's countdown is from the server's (the attempt's deadline in the database, on this
 * machine's clock, which the database shares), in ms: the exact figure behind the text (it is
 * refreshed every 250 ms), sampled between two clock readings.
 */
async function countdownError(page: Page, student: TestUser): Promise<number> {
  const [row] = await sql<{ deadline: Date }>(t.databaseUrl, 'select deadline_at as deadline from attempts where exam_id = $1 and student_id = $2', [
    exam.id,
    student.id,
  ]);
  const before = Date.now();
  const shownMs = Number(await page.locator('#timer').getAttribute('data-remaining-ms'));
  const after = Date.now();
  return Math.abs(shownMs - (row!.deadline.getTime() - (before + after) / 2));
}

async function storedAnswers(student: TestUser): Promise<Map<number, number | null>> {
  const rows = await sql<{ question_id: number; option_id: number | null }>(
    t.databaseUrl,
    'select aa.question_id, aa.option_id from attempt_answers aa join attempts a on a.id = aa.attempt_id where a.exam_id = $1 and a.student_id = $2',
    [exam.id, student.id],
  );
  return new Map(rows.map((r) => [r.question_id, r.option_id]));
}

/** Signs in and starts (or resumes) the exam from the list. */
async function startExam(page: Page, student: TestUser): Promise<void> {
  await page.goto(`${t.url}/student`);
  await signIn(page, student.email);
  const item = page.locator('.exam-item', { hasText: 'Browser exam' });
  await expectText(item.locator('.badge'), /Open|In progress/);
  await item.getByRole('button', { name: /Start exam|Resume exam/ }).click();
  await page.locator('#question').waitFor();
  await expectText(page.locator('#connection'), /^Online/);
}

/** Chooses `text` on the current question. */
async function choose(page: Page, text: string): Promise<void> {
  await page.getByRole('radio', { name: text, exact: true }).check();
}

async function expectSaved(page: Page): Promise<void> {
  await expectAttribute(page.locator('#save-state'), 'data-state', 'saved');
}

describe('student page', () => {
  it('answers survive a reload, and the countdown shows the server’s remaining time before and after (±1 s)', async () => {
    const student = students[0]!;
    const { context, page, problems } = await newPage(browser);
    // The device's clock is 47 minutes fast: the countdown must not care.
    await page.clock.install({ time: Date.now() + 47 * 60_000 });
    await startExam(page, student);
    const qs = questionsOf(exam);
    const picks = ['right', 'wrong A', 'wrong B'];
    for (const [i, text] of picks.entries()) {
      await choose(page, text);
      await expectSaved(page);
      if (i < picks.length - 1) await page.getByRole('button', { name: 'Next' }).click();
    }
    // Flag one for review: the navigator shows it.
    await page.getByRole('button', { name: 'Flag for review' }).click();
    await expectCount(page.locator('.nav-q.flagged'), 1);
    await expectCount(page.locator('.nav-q.answered'), 3);
    await screenshot(page, 'student-exam');
    await expectAccessible(page, 'student exam');

    expect(await countdownError(page, student)).toBeLessThanOrEqual(1000);
    const before = await shownSeconds(page);
    const stored = await storedAnswers(student);
    expect(stored.size).toBe(3);

    await page.reload();
    await page.locator('#question').waitFor();
    await expectText(page.locator('#connection'), /^Online/);
    await expectText(page.locator('#timer'), /Time left/);
    expect(await countdownError(page, student)).toBeLessThanOrEqual(1000);
    // The same remaining time as before the reload, less the seconds the reload took.
    expect(await shownSeconds(page)).toBeLessThanOrEqual(before);
    expect(await shownSeconds(page)).toBeGreaterThanOrEqual(before - 10);
    await expectCount(page.locator('.nav-q.answered'), 3);
    await expectCount(page.locator('.nav-q.flagged'), 1);
    for (const [i, text] of picks.entries()) {
      await page.locator('.nav-q').nth(i).click();
      await expectChecked(page.getByRole('radio', { name: text, exact: true }));
      await expectSaved(page);
      const option = qs[i]!.options.find((o) => o.text === text)!;
      expect(stored.get(qs[i]!.id)).toBe(option.id);
    }
    expect(unexpectedErrors(problems)).toEqual([]);
    await context.close();
  });

  it('offline: two more answers are queued (not shown as saved), then acknowledged and stored once back online', async () => {
    const student = students[1]!;
    const { context, page, problems } = await newPage(browser);
    await startExam(page, student);
    const qs = questionsOf(exam);
    await choose(page, 'right');
    await expectSaved(page);

    await context.setOffline(true);
    await expectText(page.locator('#connection'), /^Offline/);
    for (const i of [1, 2]) {
      await page.locator('.nav-q').nth(i).click();
      await choose(page, 'wrong A');
      await expectAttribute(page.locator('#save-state'), 'data-state', 'queued');
    }
    await expectText(page.locator('#connection'), 'Offline · 2 answers queued');
    await expectAccessible(page, 'student exam offline');
    expect((await storedAnswers(student)).size).toBe(1);

    await context.setOffline(false);
    await expectText(page.locator('#connection'), 'Online');
    await expectAttribute(page.locator('#connection'), 'data-queued', '0');
    await expectSaved(page);
    const stored = await eventually(async () => {
      const s = await storedAnswers(student);
      return s.size === 3 ? s : null;
    });
    for (const i of [1, 2]) expect(stored.get(qs[i]!.id)).toBe(qs[i]!.options.find((o) => o.text === 'wrong A')!.id);
    // The offline spell reached the audit log once the connection was back.
    const events = await sql<{ type: string }>(
      t.databaseUrl,
      `select pe.type from proctor_events pe join attempts a on a.id = pe.attempt_id where a.student_id = $1 and pe.type like 'network_%'`,
      [student.id],
    );
    expect(events.map((e) => e.type)).toContain('network_offline');
    expect(unexpectedErrors(problems)).toEqual([]);
    await context.close();
  });

  it('answers given right before the submit are all in the score; the end screen shows it', async () => {
    const student = students[2]!;
    const { context, page, problems } = await newPage(browser);
    await startExam(page, student);
    const qs = questionsOf(exam);
    // Every question right, as fast as the page takes clicks: no waiting for "saved".
    for (let i = 0; i < qs.length; i++) {
      await choose(page, 'right');
      if (i < qs.length - 1) await page.getByRole('button', { name: 'Next' }).click();
    }
    await page.getByRole('button', { name: 'Submit exam' }).click();
    const dialog = page.getByRole('dialog', { name: 'Submit your exam?' });
    await expectContains(dialog, 'You have answered every question.');
    await expectAccessible(page, 'submit dialog');
    await dialog.getByRole('button', { name: 'Submit exam' }).click();
    await page.locator('#end-screen').waitFor();
    const max = qs.reduce((sum, q) => sum + q.points, 0);
    await expectText(page.locator('#score'), `Score: ${max} of ${max} points`);
    await expectText(page.locator('#end-reason'), 'You submitted your exam.');
    const [attempt] = await sql<{ status: string; score: number }>(t.databaseUrl, 'select status, score from attempts where exam_id = $1 and student_id = $2', [exam.id, student.id]);
    expect(attempt).toEqual({ status: 'submitted', score: max });
    await screenshot(page, 'student-end');
    await expectAccessible(page, 'end screen');

    // The list now says finished, and a reload does not reopen the exam.
    await page.getByRole('button', { name: 'Back to your exams' }).click();
    await expectText(page.locator('.exam-item .badge'), 'Finished');
    // An old link to the exam (or a tab left open) finds the end screen with the score, not the exam.
    await page.goto(`${t.url}/student#exam=${exam.id}`);
    await page.reload();
    await page.locator('#end-screen').waitFor();
    await expectText(page.locator('#score'), `Score: ${max} of ${max} points`);
    // The exam has no closing time: which answers were right waits for a release by hand.
    await expectText(page.locator('#marking'), 'Which of your answers were right is shown here once the results are released.');
    const release = await t.app.inject({ method: 'POST', url: `/api/exams/${exam.id}/results/release`, headers: { authorization: `Bearer ${admin.token}` } });
    expect(release.statusCode).toBe(200);
    await page.getByRole('button', { name: 'Back to your exams' }).click();
    await page.getByRole('button', { name: 'View result' }).click();
    await page.locator('#end-screen').waitFor();
    await expectText(page.locator('#marking'), `${qs.length} of your ${qs.length} answers were right.`);
    expect(unexpectedErrors(problems)).toEqual([]);
    await context.close();
  });

  it('the submit confirmation counts the unanswered questions', async () => {
    const student = students[3]!;
    const { context, page } = await newPage(browser);
    await startExam(page, student);
    await choose(page, 'right');
    await page.getByRole('button', { name: 'Submit exam' }).click();
    const dialog = page.getByRole('dialog', { name: 'Submit your exam?' });
    await expectContains(dialog, `5 of 6 questions are unanswered.`);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expectCount(dialog, 0);
    expect(await page.locator('#question').isVisible()).toBe(true);
    await context.close();
  });

  it('a wrong password gets a clear message; an invigilator is sent to the console', async () => {
    const { context, page } = await newPage(browser);
    await page.goto(`${t.url}/student`);
    await expectAccessible(page, 'student sign-in');
    await signIn(page, students[0]!.email, 'wrong-password');
    await expectText(page.locator('#login-error'), 'Invalid e-mail or password');
    const [invigilator] = await createUsers(t.app, 1, 'invigilator');
    await signIn(page, invigilator!.email);
    await expectContains(page.locator('#login-error'), 'sign in on the invigilator console');
    await context.close();
  });

  it('screen readers hear the time only when it crosses 5 minutes (and 1 minute), never each second', async () => {
    const [student] = await createUsers(t.app, 1, 'student');
    await createExam(t.app, admin, examBody(2, 1, { title: 'Short exam', durationSeconds: 302 }), { enroll: [student!] });
    const { context, page } = await newPage(browser);
    await page.goto(`${t.url}/student`);
    await signIn(page, student!.email);
    await page.locator('.exam-item', { hasText: 'Short exam' }).getByRole('button', { name: 'Start exam' }).click();
    await expectText(page.locator('#connection'), /^Online/);
    expect(await page.locator('#timer-announcer').getAttribute('aria-live')).toBe('assertive');
    expect(await page.locator('#timer').getAttribute('aria-live')).toBeNull();
    expect(((await page.locator('#timer-announcer').textContent()) ?? '').trim()).toBe('');
    await expectText(page.locator('#timer-announcer'), '5 minutes left.', 8000);
    expect(await shownSeconds(page)).toBeLessThanOrEqual(300);
    await context.close();
  });
});
