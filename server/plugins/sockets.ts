import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { registerExamNamespace } from '../realtime/exam-namespace.js';
import { registerFeedRoute } from '../realtime/feed.js';
import { registerInvigilatorNamespace } from '../realtime/invigilator-namespace.js';

/**
 * The transports of the live exam: the `/exam` and `/invigilator` Socket.IO namespaces and the
 * plain-WebSocket feed. On shutdown every socket is closed first, before the writers drain.
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { attempts, clocks, presence, bus, tokens, invigilation, feeds, log } = app;
    const limits = config.rateLimits;
    registerExamNamespace(app.examNsp, { attempts, clocks, presence, bus, tokens, limits, log });
    registerInvigilatorNamespace(app.invigilatorNsp, {
      invigilation,
      presence,
      bus,
      tokens,
      limits,
      log,
      deliverElsewhere: (d) => feeds.deliver(d),
      revokeElsewhere: (examId, assigned) => feeds.revoke(examId, assigned),
    });
    await registerFeedRoute(app, { hub: feeds, invigilation, presence, allowedOrigins: config.allowedOrigins });

    app.addHook('preClose', async () => {
      // Every namespace: `io.local` is the main namespace only, where no client lives, and a still-open
      // WebSocket would keep the HTTP server (and so the whole shutdown) waiting for the client to leave.
      for (const nsp of [app.examNsp, app.invigilatorNsp]) nsp.local.disconnectSockets(true);
      feeds.closeAll();
    });
  },
  { name: 'sockets', fastify: '5.x', dependencies: ['auth', 'realtime', 'exam'] },
);
