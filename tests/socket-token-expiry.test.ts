/**
 * A socket lives no longer than its token: at the token's expiry the server closes it, and a
 * reconnect with the same token fails its handshake UNAUTHORIZED (the page then asks to sign in).
 */
import { createSigner } from 'fast-jwt';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../server/auth/tokens.js';
import { EXAM_NAMESPACE, INVIGILATOR_NAMESPACE } from '../server/protocol.js';
import { TEST_JWT_SECRET, createTestApp, type TestApp } from './helpers/app.js';
import { createUsers, type TestUser } from './helpers/exam.js';
import { connectSocket, nextEvent } from './helpers/sockets.js';

let t: TestApp;
let student: TestUser;
let invigilator: TestUser;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
  [student] = (await createUsers(t.app, 1)) as [TestUser];
  [invigilator] = (await createUsers(t.app, 1, 'invigilator')) as [TestUser];
});

/** A real token of the app's kind that expires `ms` from now. */
const shortLived = (user: TestUser, ms: number) =>
  createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: ms, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE })({
    sub: String(user.id),
    role: user.role,
    name: user.name,
  });

describe('token expiry on a live socket', () => {
  it('closes /exam and /invigilator sockets when their token expires; the same token cannot reconnect', async () => {
    const studentToken = shortLived(student, 1500);
    const invigilatorToken = shortLived(invigilator, 1500);
    const s = await connectSocket(t.url, EXAM_NAMESPACE, studentToken);
    const i = await connectSocket(t.url, INVIGILATOR_NAMESPACE, invigilatorToken);
    const [studentReason, invigilatorReason] = await Promise.all([
      nextEvent(s, 'disconnect', () => true, 5000),
      nextEvent(i, 'disconnect', () => true, 5000),
    ]);
    expect(studentReason).toBe('io server disconnect');
    expect(invigilatorReason).toBe('io server disconnect');
    await expect(connectSocket(t.url, EXAM_NAMESPACE, studentToken)).rejects.toThrow('UNAUTHORIZED');
    // A fresh token works as before.
    await connectSocket(t.url, EXAM_NAMESPACE, student.token);
  });
});
