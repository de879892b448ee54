import fp from 'fastify-plugin';
import { authRoutes } from '../http/auth-routes.js';
import { examRoutes } from '../http/exam-routes.js';
import { opsRoutes } from '../http/ops-routes.js';
import { resultRoutes } from '../http/result-routes.js';
import { webRoutes } from '../http/web-routes.js';

/** The HTTP API and the browser pages (validation and the error shape are set on the root, before any route: see app.ts). */
export default fp(
  async (app) => {
    await app.register(opsRoutes);
    await app.register(authRoutes);
    await app.register(examRoutes);
    await app.register(resultRoutes);
    await app.register(webRoutes);
  },
  { name: 'routes', fastify: '5.x', dependencies: ['database', 'redis', 'auth', 'exam'] },
);
