import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LoginGate } from '../auth/login-gate.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import { login } from '../auth/login.js';
import { AppError } from '../errors.js';
import { LoginBody } from '../protocol.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const throttle = new LoginThrottle();
  const gate = new LoginGate();
  app.post('/api/auth/login', { schema: { body: LoginBody } }, async (request) => {
    const email = request.body.email.trim().toLowerCase();
    throttle.check(email);
    try {
      const result = await gate.run(() => login(request.em, app.tokens, email, request.body.password));
      throttle.succeeded(email);
      return result;
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAUTHORIZED') throttle.failed(email);
      throw err;
    }
  });
};
