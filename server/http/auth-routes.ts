import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LoginGate } from '../auth/login-gate.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import { login } from '../auth/login.js';
import { AppError } from '../errors.js';
import { LoginBody, LoginResponse, responses } from '../protocol.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const throttle = new LoginThrottle(app.redis, app.config.redisKeyPrefix);
  const gate = new LoginGate();
  app.post('/api/auth/login', { schema: { body: LoginBody, response: responses(200, LoginResponse) } }, async (request) => {
    const email = request.body.email.trim().toLowerCase();
    await throttle.check(email, request.ip);
    try {
      const result = await gate.run(() => login(request.em, app.tokens, email, request.body.password));
      await throttle.succeeded(email);
      return result;
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAUTHORIZED') await throttle.failed(email, request.ip);
      throw err;
    }
  });
};
