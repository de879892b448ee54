import { beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../server/app.js';
import { loadExamTree } from '../server/exam/authoring.js';
import { bearer, createTestApp, examBody, loginAs, seed } from './helpers/app.js';

let app: App;
let admin: Record<string, string>;
const examIds: Record<number, number> = {};

beforeAll(async () => {
  // The deadline sweeper's background statements must not land inside a recording.
  ({ app } = await createTestApp({ env: { SWEEP_INTERVAL_MS: '60000' } }));
  await seed(app, 1);
  admin = bearer(await loginAs(app, 'admin@example.com'));
  for (const n of [5, 200]) {
    const res = await app.inject({ method: 'POST', url: '/api/exams', headers: admin, payload: examBody(n, 4) });
    expect(res.statusCode).toBe(201);
    examIds[n] = res.json().id;
  }
});

describe.each([5, 200])('reading the tree of an exam of %i questions', (n) => {
  it('loadExamTree takes at most 2 statements and returns the whole tree', async () => {
    const em = app.orm.em.fork();
    const { result: exam, statements } = await app.queries.record(() => loadExamTree(em, examIds[n]!));
    expect(statements.length, statements.join('\n')).toBeGreaterThan(0);
    expect(statements.length, statements.join('\n')).toBeLessThanOrEqual(2);

    // Touching a collection that was not loaded throws: these would fail if the tree came lazily.
    expect(exam).not.toBeNull();
    const sections = exam!.sections.getItems();
    expect(sections).toHaveLength(examBody(n, 4).sections.length);
    const questions = sections.flatMap((s) => s.questions.getItems());
    expect(questions).toHaveLength(n);
    const options = questions.flatMap((q) => q.options.getItems());
    expect(options).toHaveLength(3 * n);
    expect(options.filter((o) => o.isCorrect)).toHaveLength(n);
    expect(questions.map((q) => q.text)).toEqual(examBody(n, 4).sections.flatMap((s) => s.questions.map((q) => q.text)));

    // Nothing else was fetched on the side while we walked the tree.
    const after = await app.queries.record(async () => exam!.sections.getItems().flatMap((s) => s.questions.getItems().map((q) => q.options.length)));
    expect(after.statements).toEqual([]);
  });

  it('GET /api/exams/:id takes at most 2 statements', async () => {
    const { result: res, statements } = await app.queries.record(() => app.inject({ url: `/api/exams/${examIds[n]}`, headers: admin }));
    expect(res.statusCode).toBe(200);
    expect(statements.length, statements.join('\n')).toBeGreaterThan(0);
    expect(statements.length, statements.join('\n')).toBeLessThanOrEqual(2);
    const body = res.json();
    expect(body.questionCount).toBe(n);
    const questions = body.sections.flatMap((s: { questions: { options: unknown[] }[] }) => s.questions);
    expect(questions).toHaveLength(n);
    expect(questions.every((q: { options: unknown[] }) => q.options.length === 3)).toBe(true);
  });
});
