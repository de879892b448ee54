import Fastify from 'fastify';
import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { webRoutes } from '../../server/http/web-routes.js';
import { createTestApp, loginAs, testConfig, type TestApp } from '../helpers/app.js';
import { createUsers, startAttempt } from '../helpers/exam.js';
import { expectAccessible, expectAttribute, expectCount, expectText, launchBrowser, newPage, screenshot, signIn, unexpectedErrors } from './browser.js';

let demo: TestApp;
let browser: Browser;

beforeAll(async () => {
  // The demo as `npm start` runs it: demo data seeded on start.
  demo = await createTestApp({ env: { SEED_ON_START: 'true', SEED_STUDENTS: '3' } });
  await demo.listen();
  browser = await launchBrowser();
});

describe('serving the pages', () => {
  it('HTML is no-cache under a CSP without inline scripts or foreign origins; hashed assets are immutable', async () => {
    for (const url of ['/', '/student', '/invigilator']) {
      const res = await fetch(demo.url + url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy')!;
      const host = new URL(demo.url).host;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain(`connect-src 'self' ws://${host} wss://${host}`);
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toMatch(/https?:\/\//);
      const html = await res.text();
      expect(html).toContain('<html lang="en">');
      // Every script and stylesheet is a file of ours: no inline code, nothing from elsewhere.
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
      for (const [, asset] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
        const a = await fetch(demo.url + asset!);
        expect(a.status, asset).toBe(200);
        expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      }
    }
    expect((await fetch(`${demo.url}/assets/nope.js`)).status).toBe(404);
    // The API's own 404 is untouched by the static files.
    const missing = await fetch(`${demo.url}/api/nope`);
    expect(missing.status).toBe(404);
    expect((await missing.json()) as unknown).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('the browser enforces the CSP: an injected inline script does not run', async () => {
    const { context, page, problems } = await newPage(browser);
    await page.goto(demo.url);
    await page.evaluate(`(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = true'; document.body.append(s); })()`);
    expect(await page.evaluate('window.__inline === true')).toBe(false);
    expect(problems.errors.some((e) => e.includes('Content Security Policy'))).toBe(true);
    await context.close();
  });

  it('without a build, the pages answer 503 with what to run (and the API still works)', async () => {
    const app = Fastify();
    app.decorate('config', testConfig('postgres://unused/none'));
    await app.register(webRoutes, { root: '/nonexistent/web/dist' });
    const res = await app.inject({ method: 'GET', url: '/student' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build:web');
    expect((await app.inject({ method: 'GET', url: '/api/site' })).statusCode).toBe(200);
    await app.close();
  });
});

describe('GET /api/site and GET /api/attempts', () => {
  it('the demo lists its logins; a server without demo data says demo: null', async () => {
    const res = await fetch(`${demo.url}/api/site`);
    const body = (await res.json()) as { serverNow: string; demo: { password: string; accounts: { email: string }[] } | null };
    expect(Math.abs(Date.parse(body.serverNow) - Date.now())).toBeLessThan(5000);
    expect(body.demo?.password).toBe('demo1234');
    expect(body.demo?.accounts.map((a) => a.email)).toEqual(['admin@example.com', 'invigilator@example.com', 'student1@example.com … student3@example.com']);

    const plain = await createTestApp();
    const site = await plain.app.inject({ method: 'GET', url: '/api/site' });
    expect(site.json()).toMatchObject({ demo: null });
  });

  it("a student sees their own attempts only; other roles and anonymous callers are refused", async () => {
    const students = await createUsers(demo.app, 2, 'student');
    const token = await loginAs(demo.app, 'student2@example.com');
    const headers = { authorization: `Bearer ${token}` };
    const [exam] = (await demo.app.inject({ method: 'GET', url: '/api/exams', headers })).json<{ exams: { id: number }[] }>().exams;
    const { started } = await startAttempt(demo.url, { token }, exam!.id);
    const mine = (await demo.app.inject({ method: 'GET', url: '/api/attempts', headers })).json<{ attempts: unknown[] }>();
    expect(mine.attempts).toEqual([
      { id: started.attempt.id, examId: exam!.id, status: 'in_progress', startedAt: started.attempt.startedAt, deadlineAt: started.attempt.deadlineAt, submittedAt: null, score: null, maxScore: null },
    ]);
    expect((await demo.app.inject({ method: 'GET', url: '/api/attempts' })).statusCode).toBe(401);
    const invigilator = await loginAs(demo.app, 'invigilator@example.com');
    const forbidden = await demo.app.inject({ method: 'GET', url: '/api/attempts', headers: { authorization: `Bearer ${invigilator}` } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const other = await demo.app.inject({ method: 'GET', url: '/api/attempts', headers: students[0]!.headers });
    expect(other.json()).toMatchObject({ attempts: [] });
  });
});

describe('landing page', () => {
  it('explains the product, lists the demo logins and takes a newcomer into the demo exam', async () => {
    const { context, page, problems } = await newPage(browser);
    await page.goto(demo.url);
    await expectText(page.locator('h1'), 'Live, timed, proctored exams');
    await page.locator('#demo').waitFor();
    await expectCount(page.locator('#demo-logins li'), 3);
    await expectText(page.locator('#demo-password'), 'demo1234');
    await screenshot(page, 'landing');
    await expectAccessible(page, 'landing');

    await page.getByRole('link', { name: /Student/ }).click();
    await expectText(page.locator('.login .notice'), 'Demo: sign in as student1@example.com with the password demo1234.');
    await expectAccessible(page, 'student sign-in (demo)');
    await signIn(page, 'student1@example.com');
    const item = page.locator('.exam-item', { hasText: 'Demo exam' });
    await expectText(item.locator('.badge'), 'Open');
    await expectAccessible(page, 'exam list');
    await item.getByRole('button', { name: 'Start exam' }).click();
    await expectText(page.locator('#connection'), 'Online');
    await expectText(page.locator('.section-name'), /Question 1 of 24/);
    // Keyboard: the options are a radio group, reachable and chosen without a mouse.
    await page.getByRole('radio').first().focus();
    await page.keyboard.press('Space');
    await expectText(page.locator('#save-state'), 'Saved');
    await page.keyboard.press('ArrowDown');
    await expectAttribute(page.locator('#connection'), 'data-queued', '0');
    await expectText(page.locator('#save-state'), 'Saved');
    expect(await page.getByRole('radio').nth(1).isChecked()).toBe(true);
    expect(unexpectedErrors(problems)).toEqual([]);
    await context.close();
  });
});
