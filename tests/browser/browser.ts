import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { afterFile } from '../helpers/db.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `SCREENSHOTS=1`: the tests also save the pages to docs/screenshots/ (`npm run screenshots`). */
export const SCREENSHOTS = process.env.SCREENSHOTS === '1';
const SCREENSHOT_DIR = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

/** A headless Chromium (a fresh temporary profile each launch), closed after the file. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
  afterFile(() => browser.close());
  return browser;
}

export interface PageProblems {
  /** Console errors and uncaught exceptions (a CSP violation shows up here). */
  errors: string[];
}

/** A new context and page that records console errors and page errors. */
export async function newPage(browser: Browser, opts: { viewport?: { width: number; height: number } } = {}): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: PageProblems = { errors: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.errors.push(msg.text());
  });
  page.on('pageerror', (err) => problems.errors.push(String(err)));
  return { context, page, problems };
}

/**
 * Errors a page may log without a fault of its own: Chromium logs a failed request of an offline
 * spell or a torn-down socket as a console error.
 */
export function unexpectedErrors(problems: PageProblems): string[] {
  return problems.errors.filter((e) => !/net::ERR_INTERNET_DISCONNECTED|WebSocket connection to .* failed|ERR_NETWORK_CHANGED/.test(e));
}

let axeSource: Promise<string> | undefined;

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, which the page's CSP does not
 * govern) and fails on any serious or critical violation.
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const source = await axeSource;
  await page.evaluate(source);
  // A string, not a function: this file is compiled without the DOM library.
  const violations = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => String(n.target)) })))`,
  )) as { id: string; impact: string | null; help: string; targets: string[] }[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${what}: axe found ${JSON.stringify(bad, null, 2)}`).toEqual([]);
}

/** Saves a screenshot to docs/screenshots/NAME.png when SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  if (!SCREENSHOTS) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage });
}

/** Signs in through the page's form. */
export async function signIn(page: Page, email: string, password = 'demo1234'): Promise<void> {
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The seconds shown by the student's countdown ("Time left 9:58" -> 598). */
export async function shownSeconds(page: Page): Promise<number> {
  const text = (await page.locator('#timer').textContent()) ?? '';
  const m = /(?:(\d+):)?(\d+):(\d{2})$/.exec(text.trim());
  if (!m) throw new Error(`no countdown in "${text}"`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

/**
 * Waits until `read()` satisfies `ok` (polling every 25 ms, at most `timeoutMs`), then returns the value;
 * fails naming `what` and the last value seen. Playwright's own `expect` is part of @playwright/test, not playwright-core.
 */
export async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > until) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const matches = (v: string, expected: string | RegExp) => (typeof expected === 'string' ? v === expected : expected.test(v));

/** The locator's text (trimmed) becomes `expected` (exactly, or matching a RegExp). */
export function expectText(locator: Locator, expected: string | RegExp, timeoutMs?: number): Promise<string> {
  return waitFor(`text of ${locator}`, async () => ((await locator.count()) ? ((await locator.first().textContent()) ?? '').trim() : '<missing>'), (v) => matches(v, expected), timeoutMs);
}

export function expectContains(locator: Locator, part: string): Promise<string> {
  return waitFor(`text of ${locator}`, async () => ((await locator.count()) ? ((await locator.first().textContent()) ?? '') : '<missing>'), (v) => v.includes(part));
}

export function expectAttribute(locator: Locator, name: string, value: string): Promise<string | null> {
  return waitFor(`${name} of ${locator}`, async () => ((await locator.count()) ? locator.first().getAttribute(name) : '<missing>'), (v) => v === value);
}

export function expectCount(locator: Locator, n: number): Promise<number> {
  return waitFor(`count of ${locator}`, () => locator.count(), (c) => c === n);
}

export function expectChecked(locator: Locator): Promise<boolean> {
  return waitFor(`checked ${locator}`, () => locator.isChecked(), (c) => c);
}
