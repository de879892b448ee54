import { cpus } from 'node:os';
import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExamAdminView } from '../../server/exam/authoring.js';
import { EXAM_EVENTS, EXAM_NAMESPACE, type AttemptStartResult } from '../../server/protocol.js';
import { createTestApp, examBody, type TestApp } from '../helpers/app.js';
import { createExam, createUsers, questionsOf, type TestUser } from '../helpers/exam.js';
import { connectSocket, ok, type StudentSocket } from '../helpers/sockets.js';
import { expectAccessible, expectCount, expectText, launchBrowser, newPage, screenshot, signIn } from './browser.js';

const STUDENTS = 500;
const QUESTIONS = 10;
/** Enrolled but never started. */
const ABSENT = 10;
/** Each student answers every question, one every this many ms (the whole class at once). */
const ANSWER_EVERY_MS = 400;
/**
 * Bounds that fail the first version (58 long tasks, the longest 251 ms) but leave room for a shared
 * 2-core machine: in the full suite another test file runs beside this one, and other processes stretch
 * any task (427 ms and 13 long tasks were seen there, none over 50 ms on a quiet machine). The aim is
 * none over 50 ms; the figure is printed and recorded in docs/benchmarks.md.
 */
const LONGEST_TASK_LIMIT_MS = 1000;
const LONG_TASKS_LIMIT = 40;

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
  students = await createUsers(t.app, STUDENTS, 'student');
  exam = await createExam(t.app, admin!, examBody(QUESTIONS, 2, { title: 'Big exam', durationSeconds: 3600 }), { enroll: students });
  const res = await t.app.inject({ method: 'PUT', url: `/api/exams/${exam.id}/invigilators`, headers: admin!.headers, payload: { emails: [invigilator.email] } });
  expect(res.statusCode).toBe(200);
  browser = await launchBrowser();
}, 120_000);

/** Runs `fn` over `items`, `limit` at a time. */
async function inBatches<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += limit) await Promise.all(items.slice(i, i + limit).map(fn));
}

describe('invigilator console under load', () => {
  it(`stays responsive with ${STUDENTS} students streaming answers (longest main-thread task recorded)`, async () => {
    const { context, page } = await newPage(browser, { viewport: { width: 1440, height: 1000 } });
    // Every long task (> 50 ms) of the page, from its first script on.
    await context.addInitScript(`(() => {
      window.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    })()`);
    const longTasks = () => page.evaluate('window.__longTasks') as Promise<{ start: number; duration: number }[]>;
    const pageNow = () => page.evaluate('performance.now()') as Promise<number>;

    await page.goto(`${t.url}/invigilator`);
    await signIn(page, invigilator.email);
    await page.getByRole('button', { name: 'Open console' }).click();
    await expectText(page.locator('#connection'), 'Live');
    await expectCount(page.locator('#roster tbody tr'), STUDENTS);
    const loadTasks = await longTasks();

    // The class arrives: every student connects and starts (sockets from this process, no browser each).
    const streamStart = await pageNow();
    const sockets: { socket: StudentSocket; started: AttemptStartResult }[] = [];
    // A real room: a few never turn up.
    const present = students.slice(0, STUDENTS - ABSENT);
    await inBatches(present, 50, async (s) => {
      const socket = await connectSocket(t.url, EXAM_NAMESPACE, s.token);
      sockets.push({ socket, started: await ok(socket, EXAM_EVENTS.start, { examId: exam.id }) });
    });
    // Then everyone answers every question, a few flag (focus lost), all at once.
    const qs = questionsOf(exam);
    const startedAt = Date.now();
    await Promise.all(
      sockets.map(async ({ socket, started }, n) => {
        for (const [i, q] of qs.entries()) {
          const wait = startedAt + i * ANSWER_EVERY_MS + (n % 20) * (ANSWER_EVERY_MS / 20) - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          await ok(socket, EXAM_EVENTS.answer, { attemptId: started.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
          if (n % 25 === 0 && i === 3) await ok(socket, EXAM_EVENTS.proctor, { attemptId: started.attempt.id, type: 'focus_lost' });
        }
      }),
    );
    // The console catches up: the counts (from every row's data) first.
    const flagged = Math.ceil(present.length / 25);
    const complete = `${QUESTIONS} of ${QUESTIONS}`;
    await expectText(page.locator('#roster-summary'), `${STUDENTS} students · ${present.length} connected · ${flagged} flagged · 0 finished · ${ABSENT} not started`, 30_000);
    // Rows on screen are current; a row far down is written once it scrolls into view.
    await expectText(page.locator(`tr[data-student="${present[0]!.id}"] .progress-text`), complete, 30_000);
    const far = page.locator(`tr[data-student="${present[present.length - 1]!.id}"]`);
    await far.scrollIntoViewIfNeeded();
    await expectText(far.locator('.progress-text'), complete);
    // A few submit, a few lose their connection.
    await Promise.all(sockets.slice(0, 10).map(({ socket, started }) => ok(socket, EXAM_EVENTS.submit, { attemptId: started.attempt.id })));
    for (const { socket } of sockets.slice(10, 15)) socket.disconnect();
    await expectText(page.locator('#roster-summary'), `${STUDENTS} students · ${present.length - 5} connected · ${flagged} flagged · 10 finished · ${ABSENT} not started`, 15_000);
    const streamEnd = await pageNow();

    // Still responsive: the filter answers at once, and shows exactly the rows it should.
    const clickStart = Date.now();
    const filter = page.getByLabel('Show');
    await filter.selectOption('flagged');
    await expectCount(page.locator('#roster tbody tr:not([hidden])'), flagged);
    const filterMs = Date.now() - clickStart;
    await expectCount(page.locator('#roster tbody tr:not([hidden]) td.flags.has-flags'), flagged);
    await filter.selectOption('finished');
    await expectCount(page.locator('#roster tbody tr:not([hidden])'), 10);
    await expectCount(page.locator('#roster tbody tr:not([hidden])[data-status="submitted"]'), 10);
    await filter.selectOption('disconnected');
    await expectCount(page.locator('#roster tbody tr:not([hidden]) td.conn-cell.bad'), 5);
    await filter.selectOption('not_started');
    await expectCount(page.locator('#roster tbody tr:not([hidden])'), ABSENT);
    await filter.selectOption('all');
    // Sorting by flags (most first) puts the flagged students on top; by name again for the screenshot.
    await page.getByRole('button', { name: 'Flags' }).click();
    await expectText(page.locator('#roster tbody tr').first().locator('td.flags'), '1');
    expect(await page.locator('#roster th', { hasText: 'Flags' }).getAttribute('aria-sort')).toBe('descending');
    await page.getByRole('button', { name: 'Student', exact: true }).click();
    await expectText(page.locator('#roster tbody tr').first().locator('th'), students[0]!.name);
    await page.locator('#roster tbody tr').first().scrollIntoViewIfNeeded();
    await screenshot(page, 'console', false);
    await expectAccessible(page, `console with ${STUDENTS} rows`);

    const all = await longTasks();
    const during = all.filter((e) => e.start >= streamStart && e.start <= streamEnd);
    const longest = (list: { duration: number }[]) => Math.round(Math.max(0, ...list.map((e) => e.duration)));
    const summary = {
      machine: `${cpus().length} cores`,
      students: STUDENTS,
      answers: present.length * QUESTIONS,
      streamSeconds: Math.round((streamEnd - streamStart) / 100) / 10,
      longTasksWhileStreaming: during.length,
      longestTaskWhileStreamingMs: longest(during),
      longestTaskLoadingRosterMs: longest(loadTasks),
      filterClickToResultMs: filterMs,
    };
    console.log(`console-load: ${JSON.stringify(summary)}`);
    expect(summary.longestTaskWhileStreamingMs).toBeLessThan(LONGEST_TASK_LIMIT_MS);
    expect(summary.longTasksWhileStreaming).toBeLessThan(LONG_TASKS_LIMIT);
    for (const { socket } of sockets) socket.disconnect();
    await context.close();
  }, 120_000);
});
