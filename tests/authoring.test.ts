import { beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../server/app.js';
import type { CreateExamBody } from '../server/protocol.js';
import { bearer, createTestApp, examBody, loginAs, seed } from './helpers/app.js';
import { countRows, sql } from './helpers/pg.js';

let app: App;
let db: string;
let admin: Record<string, string>;

beforeAll(async () => {
  const t = await createTestApp();
  app = t.app;
  db = t.databaseUrl;
  await seed(app, 4);
  admin = bearer(await loginAs(app, 'admin@example.com'));
});

type Tree = { title: string; questions: { text: string; points: number; options: { text: string; isCorrect: boolean }[] }[] }[];

/** The tree of an admin view without its ids. */
const withoutIds = (sections: { title: string; questions: { text: string; points: number; options: { text: string; isCorrect: boolean }[] }[] }[]): Tree =>
  sections.map((s) => ({
    title: s.title,
    questions: s.questions.map((q) => ({ text: q.text, points: q.points, options: q.options.map((o) => ({ text: o.text, isCorrect: o.isCorrect })) })),
  }));

const create = (payload: unknown, headers = admin) =>
  app.inject({ method: 'POST', url: '/api/exams', headers, payload: payload as object });
const get = (id: number) => app.inject({ url: `/api/exams/${id}`, headers: admin });
const patch = (id: number, payload: unknown) => app.inject({ method: 'PATCH', url: `/api/exams/${id}`, headers: admin, payload: payload as object });

async function createOk(body: CreateExamBody): Promise<number> {
  const res = await create(body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const FULL: CreateExamBody = {
  title: 'Organic chemistry, final',
  durationSeconds: 5400,
  gracePeriodSeconds: 15,
  opensAt: '2030-06-01T09:00:00.000Z',
  closesAt: '2030-06-01T13:30:00.000Z',
  shuffleQuestions: true,
  shuffleOptions: true,
  sections: [
    {
      title: 'Part B (named so that alphabetical order would differ)',
      questions: [
        {
          text: 'Z: which is an alkane?',
          points: 3,
          options: [
            { text: 'ethene', isCorrect: false },
            { text: 'benzene', isCorrect: false },
            { text: 'methane', isCorrect: true },
          ],
        },
        {
          text: 'A: which is aromatic?',
          points: 0,
          options: [
            { text: 'benzene', isCorrect: true },
            { text: 'hexane', isCorrect: false },
          ],
        },
      ],
    },
    {
      title: 'Part A',
      questions: [
        {
          text: 'Only question of part A',
          // points omitted: defaults to 1
          options: [
            { text: 'd', isCorrect: false },
            { text: 'c', isCorrect: false },
            { text: 'b', isCorrect: false },
            { text: 'a', isCorrect: true },
          ],
        },
      ],
    },
  ],
};

describe('authoring round trip', () => {
  let id: number;

  it('creates an exam with every field and reads it back unchanged, order preserved', async () => {
    const res = await create(FULL);
    expect(res.statusCode).toBe(201);
    const created = res.json();
    id = created.id;
    const expected = {
      id,
      title: FULL.title,
      durationSeconds: 5400,
      gracePeriodSeconds: 15,
      opensAt: '2030-06-01T09:00:00.000Z',
      closesAt: '2030-06-01T13:30:00.000Z',
      shuffleQuestions: true,
      shuffleOptions: true,
      isPublished: false,
      version: 1,
      questionCount: 3,
      maxScore: 4,
    };
    expect(created).toMatchObject(expected);
    const expectedTree: Tree = FULL.sections.map((s) => ({
      title: s.title,
      questions: s.questions.map((q) => ({ text: q.text, points: q.points ?? 1, options: q.options })),
    }));
    expect(withoutIds(created.sections)).toEqual(expectedTree);

    const read = await get(id);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(created);
    expect(withoutIds(read.json().sections)).toEqual(expectedTree);

    // Every node got an id of its own.
    const ids = [
      ...created.sections.map((s: { id: number }) => `s${s.id}`),
      ...created.sections.flatMap((s: { questions: { id: number; options: { id: number }[] }[] }) =>
        s.questions.flatMap((q) => [`q${q.id}`, ...q.options.map((o) => `o${o.id}`)]),
      ),
    ];
    expect(new Set(ids).size).toBe(2 + 3 + 9);
  });

  it('reads the tree in position order, not insertion order', async () => {
    // Swap the two sections and reverse the options of the first question behind the ORM's back.
    await sql(db, `update sections set position = 1 - position where exam_id = $1`, [id]);
    await sql(
      db,
      `update options set position = 2 - position where question_id = (
         select q.id from questions q join sections s on s.id = q.section_id where s.exam_id = $1 and s.title like 'Part B%' and q.position = 0)`,
      [id],
    );
    const tree = withoutIds((await get(id)).json().sections);
    expect(tree.map((s) => s.title)).toEqual(['Part A', FULL.sections[0]!.title]);
    expect(tree[1]!.questions.map((q) => q.text)).toEqual(['Z: which is an alkane?', 'A: which is aromatic?']);
    expect(tree[1]!.questions[0]!.options.map((o) => o.text)).toEqual(['methane', 'benzene', 'ethene']);
    await sql(db, `update sections set position = 1 - position where exam_id = $1`, [id]);
  });

  it('PATCH changes the given fields only and bumps the version', async () => {
    const before = (await get(id)).json();
    const res = await patch(id, { title: 'Organic chemistry, resit', durationSeconds: 3600, shuffleOptions: false, opensAt: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ...before,
      title: 'Organic chemistry, resit',
      durationSeconds: 3600,
      shuffleOptions: false,
      opensAt: null,
      version: 2,
    });
    expect((await get(id)).json()).toEqual(res.json());
  });

  it('PATCH with sections replaces the whole tree', async () => {
    const oldQuestionIds = (await sql<{ id: number }>(db, `select q.id from questions q join sections s on s.id = q.section_id where s.exam_id = $1`, [id])).map((r) => r.id);
    const replacement = examBody(5, 2).sections;
    const res = await patch(id, { sections: replacement });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ version: 3, questionCount: 5, title: 'Organic chemistry, resit' });
    expect(withoutIds(res.json().sections)).toEqual(withoutIds(replacement as Tree));
    expect(withoutIds((await get(id)).json().sections)).toEqual(withoutIds(replacement as Tree));
    // The old rows are gone, not orphaned.
    expect(await countRows(db, `sections where exam_id = $1`, [id])).toBe(2);
    expect(await countRows(db, `questions where id = any($1)`, [oldQuestionIds])).toBe(0);
    expect(await countRows(db, `options o join questions q on q.id = o.question_id join sections s on s.id = q.section_id where s.exam_id = $1`, [id])).toBe(15);
  });

  it('publishes', async () => {
    const res = await app.inject({ method: 'POST', url: `/api/exams/${id}/publish`, headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, isPublished: true });
    expect((await get(id)).json().isPublished).toBe(true);
    const again = await app.inject({ method: 'POST', url: `/api/exams/${id}/publish`, headers: admin });
    expect(again.statusCode).toBe(200);
    expect(again.json().isPublished).toBe(true);
  });
});

describe('enrollments and invigilators', () => {
  let id: number;
  const enrollments = () =>
    sql<{ email: string; extra: number }>(
      db,
      `select u.email, e.extra_time_seconds as extra from enrollments e join users u on u.id = e.student_id where e.exam_id = $1 order by u.email`,
      [id],
    );
  const put = (what: 'enrollments' | 'invigilators', payload: unknown) =>
    app.inject({ method: 'PUT', url: `/api/exams/${id}/${what}`, headers: admin, payload: payload as object });

  beforeAll(async () => {
    id = await createOk(examBody(2, 1, { title: 'Enrollment exam' }));
  });

  it('enrolls students by e-mail with their extra time', async () => {
    const res = await put('enrollments', {
      enrollments: [
        { email: 'student1@example.com', extraTimeSeconds: 600 },
        { email: 'STUDENT2@example.com' },
        { email: 'student3@example.com', extraTimeSeconds: 0 },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ enrolled: 3 });
    expect(await enrollments()).toEqual([
      { email: 'student1@example.com', extra: 600 },
      { email: 'student2@example.com', extra: 0 },
      { email: 'student3@example.com', extra: 0 },
    ]);
  });

  it('replacing the set removes the students left out and updates extra time', async () => {
    const res = await put('enrollments', {
      enrollments: [{ email: 'student2@example.com', extraTimeSeconds: 90 }, { email: 'student4@example.com' }],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ enrolled: 2 });
    expect(await enrollments()).toEqual([
      { email: 'student2@example.com', extra: 90 },
      { email: 'student4@example.com', extra: 0 },
    ]);
  });

  it('refuses an unknown e-mail or a non-student with 400 VALIDATION and changes nothing', async () => {
    for (const email of ['ghost@example.com', 'invigilator@example.com']) {
      const res = await put('enrollments', { enrollments: [{ email: 'student1@example.com' }, { email }] });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION');
      expect(res.json().error.message).toContain(email);
    }
    const malformed = await put('enrollments', { enrollments: [{ email: 'not-an-email' }] });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.message).toContain('/enrollments/0/email');
    expect((await enrollments()).map((e) => e.email)).toEqual(['student2@example.com', 'student4@example.com']);
  });

  it('assigns invigilators by e-mail, refuses unknown ones and non-invigilators', async () => {
    const res = await put('invigilators', { emails: ['Invigilator@Example.com'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ invigilators: 1 });
    const assigned = () =>
      sql<{ email: string }>(db, `select u.email from exam_invigilators i join users u on u.id = i.invigilator_id where i.exam_id = $1`, [id]);
    expect(await assigned()).toEqual([{ email: 'invigilator@example.com' }]);

    for (const email of ['nobody@example.com', 'student1@example.com']) {
      const bad = await put('invigilators', { emails: [email] });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toMatchObject({ code: 'VALIDATION', message: expect.stringContaining(email) });
    }
    expect(await assigned()).toEqual([{ email: 'invigilator@example.com' }]);

    const cleared = await put('invigilators', { emails: [] });
    expect(cleared.json()).toEqual({ invigilators: 0 });
    expect(await assigned()).toEqual([]);
  });
});

describe('GET /api/exams visibility', () => {
  const titles = async (email: string) => {
    const res = await app.inject({ url: '/api/exams', headers: bearer(await loginAs(app, email)) });
    expect(res.statusCode).toBe(200);
    return { titles: (res.json().exams as { title: string }[]).map((e) => e.title), body: res.body, exams: res.json().exams };
  };

  beforeAll(async () => {
    const draft = await createOk(examBody(1, 1, { title: 'V draft, enrolled' }));
    const open = await createOk(examBody(1, 1, { title: 'V published, enrolled' }));
    const other = await createOk(examBody(1, 1, { title: 'V published, not enrolled' }));
    for (const id of [draft, open, other]) {
      if (id !== other) {
        const r = await app.inject({ method: 'PUT', url: `/api/exams/${id}/enrollments`, headers: admin, payload: { enrollments: [{ email: 'student3@example.com' }] } });
        expect(r.statusCode).toBe(200);
      }
    }
    for (const id of [open, other]) {
      expect((await app.inject({ method: 'POST', url: `/api/exams/${id}/publish`, headers: admin })).statusCode).toBe(200);
    }
    const r = await app.inject({ method: 'PUT', url: `/api/exams/${draft}/invigilators`, headers: admin, payload: { emails: ['invigilator@example.com'] } });
    expect(r.statusCode).toBe(200);
  });

  it('shows a student only the published exams they are enrolled in, without the key', async () => {
    const { titles: seen, body, exams } = await titles('student3@example.com');
    // The demo exam (seeded, published, student3 enrolled) and the one published exam of ours; not the
    // published exams without student3 (e.g. the round-trip one), nor 'Enrollment exam' they were removed from.
    expect(seen).toEqual(['Demo exam', 'V published, enrolled']);
    expect(seen).not.toContain('V draft, enrolled');
    expect(seen).not.toContain('V published, not enrolled');
    expect(body).not.toMatch(/isCorrect|sections|options/);
    expect(Object.keys(exams[0]).sort()).toEqual(['closesAt', 'durationSeconds', 'gracePeriodSeconds', 'id', 'isPublished', 'opensAt', 'title', 'version']);
  });

  it('shows an invigilator only the exams assigned to them', async () => {
    const { titles: seen } = await titles('invigilator@example.com');
    // Not 'Enrollment exam', whose invigilators were cleared.
    expect(seen).toEqual(['Demo exam', 'V draft, enrolled']);
  });

  it('shows an admin every exam', async () => {
    const { titles: seen } = await titles('admin@example.com');
    const all = (await sql<{ title: string }>(db, `select title from exams order by id`)).map((r) => r.title);
    expect(seen).toEqual(all);
    expect(seen).toEqual(expect.arrayContaining(['Demo exam', 'V draft, enrolled', 'V published, enrolled', 'V published, not enrolled']));
  });
});

describe('not found', () => {
  it('answers 404 NOT_FOUND JSON for an unknown exam id on every authoring route', async () => {
    const requests = [
      { method: 'GET', url: '/api/exams/987654' },
      { method: 'PATCH', url: '/api/exams/987654', payload: { title: 'x' } },
      { method: 'POST', url: '/api/exams/987654/publish' },
      { method: 'PUT', url: '/api/exams/987654/enrollments', payload: { enrollments: [] } },
      { method: 'PUT', url: '/api/exams/987654/invigilators', payload: { emails: [] } },
    ] as const;
    for (const r of requests) {
      const res = await app.inject({ ...r, headers: admin });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
    }
  });

  it('answers 404 NOT_FOUND JSON for an unknown route', async () => {
    const res = await app.inject({ url: '/api/nothing-here?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No route GET /api/nothing-here' } });
  });

  it('refuses a non-numeric exam id with 400 VALIDATION', async () => {
    const res = await app.inject({ url: '/api/exams/abc', headers: admin });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION');
  });
});

describe('validation', () => {
  const examCount = () => countRows(db, 'exams');
  const sectionCount = () => countRows(db, 'sections');

  async function expectRefused(payload: unknown, fieldInMessage: string) {
    const res = await create(payload);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION');
    expect(res.json().error.message).toContain(fieldInMessage);
    return res;
  }

  it('names the field of every refusal and writes nothing', async () => {
    const exams = await examCount();
    const sections = await sectionCount();
    const good = examBody(2, 2);

    const noTitle = structuredClone(good) as { sections: { title?: string }[] };
    delete noTitle.sections[0]!.title;
    await expectRefused(noTitle, 'sections/0/title');

    await expectRefused({ ...good, durationSeconds: '60' }, 'durationSeconds');
    await expectRefused({ ...good, durationSeconds: 0 }, 'durationSeconds');
    await expectRefused({ ...good, title: '' }, 'title');
    await expectRefused({ ...good, sections: [] }, 'sections');
    await expectRefused({ ...good, opensAt: 'tomorrow' }, 'opensAt');

    const zeroCorrect = structuredClone(good);
    zeroCorrect.sections[1]!.questions[0]!.options.forEach((o) => (o.isCorrect = false));
    await expectRefused(zeroCorrect, 'sections/1/questions/0/options');

    const twoCorrect = structuredClone(good);
    twoCorrect.sections[0]!.questions[0]!.options[2]!.isCorrect = true;
    await expectRefused(twoCorrect, 'sections/0/questions/0/options');

    const window = await expectRefused(
      { ...good, opensAt: '2030-01-02T10:00:00Z', closesAt: '2030-01-02T09:00:00Z' },
      'closesAt',
    );
    expect(window.json().error.details).toEqual([{ path: '/closesAt', message: expect.any(String) }]);

    await expectRefused({ ...good, secretField: 1 }, 'secretField');
    const nestedExtra = structuredClone(good) as unknown as { sections: { questions: { options: Record<string, unknown>[] }[] }[] };
    nestedExtra.sections[0]!.questions[0]!.options[0]!.weight = 2;
    await expectRefused(nestedExtra, 'sections/0/questions/0/options/0/weight');

    const invalidJson = await app.inject({
      method: 'POST',
      url: '/api/exams',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"title": "x", ',
    });
    expect(invalidJson.statusCode).toBe(400);
    expect(invalidJson.json()).toEqual({ error: { code: 'VALIDATION', message: expect.any(String) } });

    const noBody = await app.inject({ method: 'POST', url: '/api/exams', headers: admin });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error.code).toBe('VALIDATION');

    expect(await examCount()).toBe(exams);
    expect(await sectionCount()).toBe(sections);
    // The same body, made valid, goes through (so the refusals above were about the fields).
    expect((await create(good)).statusCode).toBe(201);
    expect(await examCount()).toBe(exams + 1);
  });

  it('PATCH refuses bad fields and keeps the exam as it was', async () => {
    const id = await createOk(examBody(2, 1, { title: 'Patch target', opensAt: '2030-01-01T09:00:00.000Z' }));
    const before = (await get(id)).json();

    const empty = await patch(id, {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('VALIDATION');

    const closesBeforeOpens = await patch(id, { closesAt: '2030-01-01T08:00:00.000Z' });
    expect(closesBeforeOpens.statusCode).toBe(400);
    expect(closesBeforeOpens.json().error.message).toContain('closesAt');

    const twoCorrect = examBody(1, 1).sections;
    twoCorrect[0]!.questions[0]!.options[1]!.isCorrect = true;
    const badTree = await patch(id, { sections: twoCorrect, title: 'Should not stick' });
    expect(badTree.statusCode).toBe(400);
    expect(badTree.json().error.message).toContain('sections/0/questions/0/options');

    const stringDuration = await patch(id, { durationSeconds: '60' });
    expect(stringDuration.statusCode).toBe(400);
    expect(stringDuration.json().error.message).toContain('durationSeconds');

    expect((await get(id)).json()).toEqual(before);
  });
});
