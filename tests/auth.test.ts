import { createSigner } from 'fast-jwt';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Enrollment, ExamInvigilator, User } from '../entities/index.js';
import type { App } from '../server/app.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenService } from '../server/auth/tokens.js';
import { AppError } from '../server/errors.js';
import { TEST_JWT_SECRET, bearer, createTestApp, examBody, loginAs, seed } from './helpers/app.js';

let app: App;
let studentId: number;

beforeAll(async () => {
  ({ app } = await createTestApp());
  await seed(app, 2);
  studentId = (await app.orm.em.fork().findOneOrFail(User, { email: 'student1@example.com' })).id;
});

const login = (payload: unknown) => app.inject({ method: 'POST', url: '/api/auth/login', payload: payload as object });
const listExams = (headers: Record<string, string> = {}) => app.inject({ url: '/api/exams', headers });

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token for student1 made outside the server; every option can be bent to make it invalid. */
function forge(opts: { key?: string; aud?: string; iss?: string; clockTimestamp?: number; expiresIn?: number } = {}): string {
  const sign = createSigner({
    key: opts.key ?? TEST_JWT_SECRET,
    algorithm: 'HS256',
    iss: opts.iss ?? TOKEN_ISSUER,
    aud: opts.aud ?? TOKEN_AUDIENCE,
    expiresIn: opts.expiresIn ?? 60_000,
    ...(opts.clockTimestamp !== undefined ? { clockTimestamp: opts.clockTimestamp } : {}),
  });
  return sign({ sub: String(studentId), role: 'student', name: 'Student 1' });
}

function expectUnauthorized(res: { statusCode: number; json: () => unknown }) {
  expect(res.statusCode).toBe(401);
  expect(res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
}

describe('POST /api/auth/login', () => {
  it('returns a token and the public user for the right password, never the hash', async () => {
    const res = await login({ email: 'student1@example.com', password: 'demo1234' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      user: { id: studentId, name: 'Student 1', email: 'student1@example.com', role: 'student' },
    });
    expect(res.body).not.toMatch(/passwordHash|password_hash|scrypt\$/);
    // The token works.
    expect((await listExams(bearer(body.token))).statusCode).toBe(200);
  });

  it('gives the same 401 for a wrong password and an unknown user', async () => {
    const wrong = await login({ email: 'student1@example.com', password: 'demo12345' });
    const unknown = await login({ email: 'nobody@example.com', password: 'demo1234' });
    expectUnauthorized(wrong);
    expectUnauthorized(unknown);
    expect(unknown.body).toBe(wrong.body);
  });

  it('matches the e-mail case-insensitively (and ignores surrounding blanks)', async () => {
    const res = await login({ email: '  Student1@EXAMPLE.com ', password: 'demo1234' });
    expect(res.statusCode).toBe(200);
    expect(res.json().user.id).toBe(studentId);
  });

  it('treats the password as case-sensitive', async () => {
    expectUnauthorized(await login({ email: 'student1@example.com', password: 'DEMO1234' }));
  });

  it('refuses a body without a password with 400 VALIDATION naming the field', async () => {
    const res = await login({ email: 'student1@example.com' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION');
    expect(res.json().error.message).toContain('password');
  });

  it('refuses a non-string password and an unknown field', async () => {
    const numeric = await login({ email: 'student1@example.com', password: 1234 });
    expect(numeric.statusCode).toBe(400);
    expect(numeric.json().error).toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('password') });
    const extra = await login({ email: 'student1@example.com', password: 'demo1234', role: 'admin' });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error).toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('role') });
  });
});

describe('JWT checks', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('accepts a token forged with the right secret, issuer, audience and expiry (control)', async () => {
    const res = await listExams(bearer(forge()));
    expect(res.statusCode).toBe(200);
  });

  it('refuses a missing, malformed or non-Bearer authorization header', async () => {
    expectUnauthorized(await listExams());
    expectUnauthorized(await listExams({ authorization: 'Bearer not-a-jwt' }));
    expectUnauthorized(await listExams({ authorization: `Basic ${forge()}` }));
  });

  it('refuses an expired token', async () => {
    const token = forge({ clockTimestamp: Date.now() - 2 * 3600_000, expiresIn: 3600_000 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    expect(exp * 1000).toBeLessThan(Date.now());
    expectUnauthorized(await listExams(bearer(token)));
  });

  it('refuses a tampered token (payload changed, signature kept)', async () => {
    const token = await loginAs(app, 'student1@example.com');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    // Promote to admin.
    const promoted = `${header}.${b64url({ ...claims, role: 'admin' })}.${signature}`;
    expectUnauthorized(await listExams(bearer(promoted)));
    expectUnauthorized(await app.inject({ method: 'POST', url: '/api/exams', headers: bearer(promoted), payload: examBody(1, 1) }));
    // Flip one character of the payload.
    const i = Math.floor(payload.length / 2);
    const flipped = `${header}.${payload.slice(0, i)}${payload[i] === 'A' ? 'B' : 'A'}${payload.slice(i + 1)}.${signature}`;
    expectUnauthorized(await listExams(bearer(flipped)));
    // The untouched token still works, so the refusals above are about the tampering.
    expect((await listExams(bearer(token))).statusCode).toBe(200);
  });

  it('refuses a token signed with another secret', async () => {
    expectUnauthorized(await listExams(bearer(forge({ key: 'another-secret-another-secret-0123456789' }))));
  });

  it("refuses an unsigned token (alg 'none')", async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: String(studentId), role: 'admin', name: 'x', iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: now, exp: now + 600 };
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    expectUnauthorized(await listExams(bearer(token)));
  });

  it('refuses a wrong audience or issuer', async () => {
    expectUnauthorized(await listExams(bearer(forge({ aud: 'another-service' }))));
    expectUnauthorized(await listExams(bearer(forge({ iss: 'another-issuer' }))));
  });

  it('TokenService: a token verified once (and cached) is refused once it expires', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const tokens = new TokenService(TEST_JWT_SECRET, 60);
    const token = tokens.issue({ sub: 7, role: 'invigilator', name: 'Ivo' });
    expect(tokens.verify(token)).toEqual({ sub: 7, role: 'invigilator', name: 'Ivo', expiresAt: Date.parse('2030-01-01T00:01:00Z') });
    vi.setSystemTime(new Date('2030-01-01T00:00:59Z'));
    expect(tokens.verify(token).sub).toBe(7);
    vi.setSystemTime(new Date('2030-01-01T00:01:01Z'));
    expect(() => tokens.verify(token)).toThrow(AppError);
  });

  it('TokenService: refuses a well-signed token whose role or subject is not one of ours', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, 60);
    const sign = createSigner({ key: TEST_JWT_SECRET, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, expiresIn: 60_000 });
    expect(() => tokens.verify(sign({ sub: '1', role: 'superuser' }))).toThrow(AppError);
    expect(() => tokens.verify(sign({ sub: 'abc', role: 'admin' }))).toThrow(AppError);
    expect(() => tokens.verify(sign({ role: 'admin' }))).toThrow(AppError);
    expect(tokens.verify(sign({ sub: '1', role: 'admin' })).role).toBe('admin');
  });
});

describe('role guard on the authoring routes', () => {
  let examId: number;
  let tokens: Record<'student' | 'invigilator' | 'admin', string>;

  beforeAll(async () => {
    tokens = {
      student: await loginAs(app, 'student1@example.com'),
      invigilator: await loginAs(app, 'invigilator@example.com'),
      admin: await loginAs(app, 'admin@example.com'),
    };
    const res = await app.inject({ method: 'POST', url: '/api/exams', headers: bearer(tokens.admin), payload: examBody(2, 1) });
    expect(res.statusCode).toBe(201);
    examId = res.json().id;
  });

  // Valid bodies and an existing exam: a refusal can only come from the guard.
  const routes = () =>
    [
      { method: 'POST', url: '/api/exams', payload: examBody(2, 1, { title: 'Sneaky' }) },
      { method: 'GET', url: `/api/exams/${examId}` },
      { method: 'PATCH', url: `/api/exams/${examId}`, payload: { title: 'Hijacked' } },
      { method: 'POST', url: `/api/exams/${examId}/publish` },
      { method: 'PUT', url: `/api/exams/${examId}/enrollments`, payload: { enrollments: [{ email: 'student1@example.com' }] } },
      { method: 'PUT', url: `/api/exams/${examId}/invigilators`, payload: { emails: ['invigilator@example.com'] } },
    ] as const;

  it('refuses every authoring route without a token (401), to a student (403) and to an invigilator (403)', async () => {
    for (const route of routes()) {
      const anonymous = await app.inject(route);
      expect(anonymous.statusCode, `${route.method} ${route.url} without token`).toBe(401);
      expect(anonymous.json().error.code).toBe('UNAUTHORIZED');
      for (const role of ['student', 'invigilator'] as const) {
        const res = await app.inject({ ...route, headers: bearer(tokens[role]) });
        expect(res.statusCode, `${route.method} ${route.url} as ${role}`).toBe(403);
        expect(res.json()).toEqual({ error: { code: 'FORBIDDEN', message: expect.any(String) } });
      }
    }
  });

  it('refuses an anonymous request before looking at its body', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/exams', payload: { nonsense: true } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('UNAUTHORIZED');
    const student = await app.inject({ method: 'PATCH', url: `/api/exams/${examId}`, headers: bearer(tokens.student), payload: {} });
    expect(student.statusCode).toBe(403);
  });

  it('left nothing changed by the refused calls, and lets the admin through (control)', async () => {
    const res = await app.inject({ url: `/api/exams/${examId}`, headers: bearer(tokens.admin) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ title: 'Exam of 2', version: 1, isPublished: false });
    const titles = (await listExams(bearer(tokens.admin))).json().exams.map((e: { title: string }) => e.title);
    expect(titles).not.toContain('Sneaky');
    expect(await app.orm.em.fork().count(Enrollment, { exam: examId })).toBe(0);
    expect(await app.orm.em.fork().count(ExamInvigilator, { exam: examId })).toBe(0);
  });

  it('requires a token to list exams', async () => {
    expectUnauthorized(await listExams());
    expect((await listExams(bearer(tokens.student))).statusCode).toBe(200);
  });
});
