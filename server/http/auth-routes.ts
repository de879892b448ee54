import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { login } from '../auth/login.js';
import { LoginBody } from '../protocol.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/auth/login', { schema: { body: LoginBody } }, async (request) =>
    login(request.em, app.tokens, request.body.email, request.body.password),
  );
};
