import fp from 'fastify-plugin';
import type { AuthUser } from '../auth/guard.js';
import { TokenService } from '../auth/tokens.js';
import type { Config } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService;
  }
  interface FastifyRequest {
    /** Set by the `requireRole` guard. */
    user: AuthUser | null;
  }
}

/** JWTs (issued at login, checked by route guards, socket handshakes and the feed). */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    app.decorate('tokens', new TokenService(config.jwtSecret, config.jwtTtlSeconds));
    app.decorateRequest('user', null);
  },
  { name: 'auth', fastify: '5.x' },
);
