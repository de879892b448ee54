import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { currentUser, requireRole } from '../auth/guard.js';
import { MyAttemptsResponse, responses, SiteResponse } from '../protocol.js';

/**
 * Where `vite build` (web/vite.config.ts) writes the pages: `<repo>/web/dist`, two levels up from this
 * file under tsx, three from its compiled copy in `dist/server/http/` (`npm run build`).
 */
export const WEB_DIST =
  ['../../web/dist/', '../../../web/dist/']
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((dir) => existsSync(path.join(dir, 'index.html'))) ?? fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** Hashed file names under `assets/` never change content: cache them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** A host as it may appear in a CSP source (anything else is not reflected into the header). */
const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The pages' Content-Security-Policy: only this origin, no inline script or style, no foreign
 * origin at all; the sockets connect to the same host (`ws:`/`wss:` named explicitly, for browsers
 * whose `'self'` does not cover them).
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const sockets = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function pageHeaders(reply: FastifyReply, request: FastifyRequest): void {
  reply
    .header('cache-control', 'no-cache')
    .header('content-security-policy', contentSecurityPolicy(request.headers.host))
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

/** The pages' own URLs and the built HTML file behind each. */
const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/student': 'student.html',
  '/invigilator': 'invigilator.html',
};

/**
 * The browser pages (landing, student, invigilator console), built by Vite into `web/dist`, served
 * with `@fastify/static`: hashed assets `immutable`, HTML `no-cache` under a strict CSP. Also the two
 * small reads the pages need: `GET /api/site` (server time, and the demo logins in the demo) and
 * `GET /api/attempts` (a student's own attempts, for the exam list).
 */
const web: FastifyPluginAsync<{ root?: string }> = async (app, opts) => {
  const root = opts.root ?? WEB_DIST;
  const config = app.config;
  // The database's time (as the exam's deadlines), not this node's wall clock; the pages served alone,
  // without the realtime plugin (a test of the pages), fall back to the node's own.
  const serverNow = () => (app.hasDecorator('clock') ? app.clock.now() : new Date()).toISOString();

  app.get('/api/site', { schema: { response: responses(200, SiteResponse) } }, async () => ({
    serverNow: serverNow(),
    demo: config.seedOnStart
      ? {
          password: config.demoPassword,
          accounts: [
            { email: 'admin@example.com', role: 'admin', note: 'administrator (authoring API)' },
            { email: 'invigilator@example.com', role: 'invigilator', note: 'invigilator of the demo exam' },
            {
              email: config.seedStudents > 1 ? `student1@example.com … student${config.seedStudents}@example.com` : 'student1@example.com',
              role: 'student',
              note: 'students enrolled in the demo exam',
            },
          ],
        }
      : null,
  }));

  app.get('/api/attempts', { onRequest: requireRole('student'), schema: { response: responses(200, MyAttemptsResponse) } }, async (request) => {
    return { serverNow: serverNow(), attempts: await app.results.myAttempts(currentUser(request).id) };
  });

  if (!existsSync(path.join(root, 'index.html'))) {
    app.log.warn({ root }, 'the browser pages are not built: run `npm run build:web` (npm start does it first)');
    for (const url of Object.keys(PAGES)) {
      app.get(url, async (_request, reply) =>
        reply
          .status(503)
          .type('text/plain; charset=utf-8')
          .send('The browser pages are not built yet. Run `npm run build:web` (or `npm start`, which builds them first).\n'),
      );
    }
    return;
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // Only the built files and the pages' own URLs: no directory listing, no `/student.html` twins.
    wildcard: false,
    index: false,
    cacheControl: false,
    setHeaders(reply, filePath) {
      if (filePath.includes(`${path.sep}assets${path.sep}`)) reply.header('cache-control', IMMUTABLE);
      else if (filePath.endsWith('.html')) pageHeaders(reply, reply.request);
      else reply.header('cache-control', 'no-cache');
    },
  });
  for (const [url, file] of Object.entries(PAGES)) {
    app.get(url, async (_request, reply) => reply.sendFile(file));
  }
};

export const webRoutes = fp(web, { name: 'web' });
