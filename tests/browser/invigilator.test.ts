import type { Browser, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../../server/exam/authoring.js';
import { createTestApp, examBody, type TestApp } from '../helpers/app.js';
import { createExam, createUsers, questionsOf, type TestUser } from '../helpers/exam.js';
import { sql } from '../helpers/pg.js';
import {
  expectAccessible,
  expectAttribute,
  expectContains,
  expectText,
  launchBrowser,
  newPage,
  shownSeconds,
  signIn,
  unexpectedErrors,
  waitFor,
} from './browser.js';

let t: TestApp;
let browser: Browser;
let invigilator: TestUser;
let students: TestUser[];
let exam: ExamAdminView;

beforeAll(async () => {
  t = await createTestApp({ redis: true });
  await t.listen();
  const [admin] = await createUsers(t.app, 1, 'admin');
  invigilator = (await createUsers(t.app, 1, 'invigilator'))[0]!;
  students = await createUsers(t.app, 3, 'student');
  exam = await createExam(t.app, admin!, examBody(6, 2, { title: 'Watched exam', durationSeconds: 1200 }), { enroll: students });
  const res = await t.app.inject({ method: 'PUT', url: `/api/exams/${exam.id}/invigilators`, headers: admin!.headers, payload: { emails: [invigilator.email] } });
  expect(res.statusCode).toBe(200);
  browser = await launchBrowser();
});

async function openConsole(page: Page): Promise<void> {
  await page.goto(`${t.url}/invigilator`);
  await signIn(page, invigilator.email);
  await page.locator('.exam-item', { hasText: 'Watched exam' }).getByRole('button', { name: 'Open console' }).click();
  await expectText(page.locator('#connection'), 'Live');
}

const row = (page: Page, student: TestUser) => page.locator(`tr[data-student="${student.id}"]`);

/** What a tab switch does to the page: hidden, then visible again. */
async function switchTabAwayAndBack(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
    Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  })()`);
}

describe('invigilator console', () => {
  it('follows a student live (progress, a tab switch), extends their time, messages and terminates them', async () => {
    const student = students[0]!;
    const s = await newPage(browser);
    const inv = await newPage(browser);

    await openConsole(inv.page);
    await expectText(row(inv.page, student).locator('td').nth(4), 'Not started');
    await expectAccessible(inv.page, 'console');

    await s.page.goto(`${t.url}/student`);
    await signIn(s.page, student.email);
    await s.page.getByRole('button', { name: 'Start exam' }).click();
    await expectText(s.page.locator('#connection'), /^Online/);
    await expectText(row(inv.page, student).locator('td').nth(0), 'Connected');
    await expectText(row(inv.page, student).locator('td').nth(4), 'In progress');

    for (let i = 0; i < 2; i++) {
      await s.page.getByRole('radio', { name: 'right', exact: true }).check();
      await expectAttribute(s.page.locator('#save-state'), 'data-state', 'saved');
      await s.page.getByRole('button', { name: 'Next' }).click();
    }
    await expectText(row(inv.page, student).locator('.progress-text'), '2 of 6');

    await switchTabAwayAndBack(s.page);
    await expectText(row(inv.page, student).locator('td.flags'), '1');
    await expectContains(inv.page.locator('#feed .feed-item.flag').first(), 'switched to another tab or app');

    // Extend by 10 minutes: the student's countdown jumps by 600 s.
    const before = await shownSeconds(s.page);
    await row(inv.page, student).getByRole('button', { name: student.name }).click();
    await inv.page.locator('#student-extend-minutes').fill('10');
    await inv.page.getByRole('button', { name: 'Extend time' }).click();
    await inv.page.getByRole('dialog', { name: 'Extend time?' }).getByRole('button', { name: 'Extend time' }).click();
    await expectContains(inv.page.locator('#action-result'), `${student.name} has 10 more minutes`);
    const after = await waitFor('student countdown', () => shownSeconds(s.page), (v) => v > before + 500);
    expect(Math.abs(after - (before + 600))).toBeLessThanOrEqual(3);
    await expectContains(s.page.locator('#messages'), 'Your time was extended by 10 minutes.');

    await inv.page.getByLabel('Message', { exact: true }).fill('Please keep your eyes on your own screen.');
    await inv.page.getByRole('button', { name: 'Send message' }).click();
    await inv.page.getByRole('dialog', { name: 'Send message?' }).getByRole('button', { name: 'Send message' }).click();
    await expectText(inv.page.locator('#action-result'), `Message sent to ${student.name}.`);
    await expectContains(s.page.locator('#messages'), 'Please keep your eyes on your own screen.');
    await expectAccessible(s.page, 'student exam with messages');

    await inv.page.getByLabel('Reason for ending').fill('Phone on the desk');
    await inv.page.getByRole('button', { name: 'Terminate' }).click();
    await inv.page.getByRole('dialog', { name: 'Terminate attempt?' }).getByRole('button', { name: 'Terminate' }).click();
    await expectText(inv.page.locator('#action-result'), `${student.name}'s attempt was terminated.`);
    await s.page.locator('#end-screen').waitFor();
    await expectText(s.page.locator('#end-reason'), 'An invigilator ended your exam: Phone on the desk');
    const firstTwo = questionsOf(exam).slice(0, 2).reduce((sum, q) => sum + q.points, 0);
    await expectText(s.page.locator('#score'), new RegExp(`^Score: ${firstTwo} of \\d+ points$`));
    await expectText(row(inv.page, student).locator('td').nth(4), 'Terminated');
    await expectContains(inv.page.locator('#feed .feed-item.ended').first(), 'was stopped (Phone on the desk)');

    const audit = await sql<{ type: string }>(
      t.databaseUrl,
      'select pe.type from proctor_events pe join attempts a on a.id = pe.attempt_id where a.student_id = $1 order by pe.id',
      [student.id],
    );
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['visibility_hidden', 'time_extended', 'message', 'terminated']));
    expect(unexpectedErrors(s.problems)).toEqual([]);
    expect(unexpectedErrors(inv.problems)).toEqual([]);
    await s.context.close();
    await inv.context.close();
  });

  it('extends everyone, announces, force-submits, shows results and downloads the CSV (with the token)', async () => {
    const student = students[1]!;
    const s = await newPage(browser);
    const inv = await newPage(browser);
    await s.page.goto(`${t.url}/student`);
    await signIn(s.page, student.email);
    await s.page.getByRole('button', { name: 'Start exam' }).click();
    await s.page.getByRole('radio', { name: 'right', exact: true }).check();
    await expectAttribute(s.page.locator('#save-state'), 'data-state', 'saved');

    await openConsole(inv.page);
    await inv.page.locator('#exam-extend-minutes').fill('0');
    await inv.page.getByRole('button', { name: 'Extend everyone' }).click();
    await expectText(inv.page.locator('#action-result'), 'Enter a whole number of minutes between 1 and 1440.');
    await inv.page.locator('#exam-extend-minutes').fill('2');
    await inv.page.getByRole('button', { name: 'Extend everyone' }).click();
    await inv.page.getByRole('dialog', { name: 'Extend everyone?' }).getByRole('button', { name: 'Extend everyone' }).click();
    await expectText(inv.page.locator('#action-result'), '1 attempt extended by 2 minutes.');

    await inv.page.getByLabel('Announcement').fill('Ten minutes to go.');
    await inv.page.getByRole('button', { name: 'Announce to everyone' }).click();
    await inv.page.getByRole('dialog', { name: 'Announce?' }).getByRole('button', { name: 'Announce' }).click();
    await expectText(inv.page.locator('#action-result'), 'Announcement sent.');
    await expectContains(s.page.locator('#messages'), 'Ten minutes to go.');

    await row(inv.page, student).getByRole('button', { name: student.name }).click();
    await inv.page.getByRole('button', { name: 'Force-submit' }).click();
    await inv.page.getByRole('dialog', { name: 'Force-submit?' }).getByRole('button', { name: 'Force-submit' }).click();
    await expectContains(inv.page.locator('#action-result'), `${student.name}'s exam was submitted`);
    await s.page.locator('#end-screen').waitFor();
    await expectText(s.page.locator('#end-reason'), 'An invigilator submitted your exam.');

    await inv.page.getByRole('button', { name: 'Show results' }).click();
    const resultRow = inv.page.locator('#results-table tr', { hasText: student.email });
    await expectText(resultRow.locator('td').nth(1), 'submitted');
    await expectAccessible(inv.page, 'console with results');

    const download = inv.page.waitForEvent('download');
    await inv.page.getByRole('button', { name: 'Download CSV' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toBe(`exam-${exam.id}-results.csv`);
    const stream = await file.createReadStream();
    let csv = '';
    for await (const chunk of stream) csv += String(chunk);
    expect(csv.split(/\r?\n/)[0]).toBe('student_id,name,email,attempt_id,status,score,max_score,answered,started_at,submitted_at');
    expect(csv).toContain(student.email);
    await expectText(inv.page.locator('#action-result'), 'The CSV file was downloaded.');
    expect(unexpectedErrors(inv.problems)).toEqual([]);
    await s.context.close();
    await inv.context.close();
  });

  it('a student account is sent to the student page', async () => {
    const { context, page } = await newPage(browser);
    await page.goto(`${t.url}/invigilator`);
    await signIn(page, students[2]!.email);
    await expectContains(page.locator('#login-error'), 'sign in on the student page');
    await context.close();
  });
});
