import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { registerExamNamespace } from '../realtime/exam-namespace.js';
import { registerFeedRoute } from '../realtime/feed.js';
import { registerInvigilatorNamespace } from '../realtime/invigilator-namespace.js';

/** On shutdown, how long the writers may take to drain before sockets are closed anyway. @default 10 s */
export const SHUTDOWN_FLUSH_MS = 10_000;
/** How long connected clients get to answer the close handshake before their connections are cut. @default 2 s */
export const SHUTDOWN_CLOSE_GRACE_MS = 2_000;

/**
 * The transports of the live exam: the `/exam` and `/invigilator` Socket.IO namespaces and the
 * plain-WebSocket feed.
 *
 * Shutdown, in this order and every wait bounded: refuse new connections; write every buffered
 * answer and audit entry (acks still reach the clients that sent them); ask every client to close;
 * after {@link SHUTDOWN_CLOSE_GRACE_MS}, cut the connections of those that did not (a peer that never
 * answers a WebSocket close frame must not hold the process past its drain limit).
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { attempts, clocks, presence, bus, tokens, invigilation, feeds, log } = app;
    const limits = config.rateLimits;
    let shuttingDown = false;
    for (const nsp of [app.examNsp, app.invigilatorNsp]) {
      nsp.use((_socket, next) => next(shuttingDown ? new Error('UNAVAILABLE') : undefined));
    }
    const socketsPerUser = config.socketsPerUser;
    registerExamNamespace(app.examNsp, { attempts, clocks, presence, bus, tokens, limits, socketsPerUser, log });
    registerInvigilatorNamespace(app.invigilatorNsp, {
      invigilation,
      presence,
      bus,
      tokens,
      limits,
      socketsPerUser,
      log,
      deliverElsewhere: (d) => feeds.deliver(d),
      revokeElsewhere: (examId, assigned) => feeds.revoke(examId, assigned),
    });
    await registerFeedRoute(app, { hub: feeds, invigilation, presence, allowedOrigins: config.allowedOrigins });

    // Upgraded connections (Socket.IO's WebSockets, the feed) leave the HTTP server's bookkeeping, so
    // closing the server does not cut them: they are tracked here.
    const upgraded = new Set<Duplex>();
    app.server.on('upgrade', (_req, socket: Duplex) => {
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
    });

    app.addHook('preClose', async () => {
      shuttingDown = true;
      const drained = Promise.all([app.answers.flush(), app.audit.flush()]).then(() => true);
      if (!(await Promise.race([drained, sleep(SHUTDOWN_FLUSH_MS, false, { ref: false })]))) {
        log.error(`shutdown: the writers did not drain within ${SHUTDOWN_FLUSH_MS / 1000} s; closing sockets anyway`);
      }
      for (const nsp of [app.examNsp, app.invigilatorNsp]) nsp.local.disconnectSockets(true);
      feeds.closeAll();
      const until = Date.now() + SHUTDOWN_CLOSE_GRACE_MS;
      while (upgraded.size > 0 && Date.now() < until) await sleep(25);
      if (upgraded.size > 0) log.warn({ connections: upgraded.size }, 'shutdown: cutting connections that did not close in time');
      for (const socket of upgraded) socket.destroy();
    });
  },
  { name: 'sockets', fastify: '5.x', dependencies: ['auth', 'realtime', 'exam', 'answer-writer'] },
);
