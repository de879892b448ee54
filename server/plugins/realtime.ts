import fp from 'fastify-plugin';
import { waitReady } from '../cache/redis.js';
import type { Config } from '../config.js';
import { databaseNow } from '../db/health.js';
import { DbClock } from '../exam/clock.js';
import { ProgressTracker } from '../exam/progress.js';
import type { RosterUpdate } from '../protocol.js';
import { attachRedisAdapter, type RedisFanout } from '../realtime/adapter.js';
import { AttemptClocks } from '../realtime/attempt-clocks.js';
import { ClusterBus } from '../realtime/cluster-bus.js';
import { FeedHub } from '../realtime/feed.js';
import { SocketNotifier } from '../realtime/notifier.js';
import { Presence } from '../realtime/presence.js';
import { NodeResync } from '../realtime/resync.js';
import {
  createSocketServer,
  examNamespace,
  invigilatorNamespace,
  mainNamespace,
  type ExamNamespace,
  type InvigilatorNamespace,
  type SocketServer,
} from '../realtime/socket-server.js';

declare module 'fastify' {
  interface FastifyInstance {
    io: SocketServer;
    /** The Redis adapter's clients; null on a single node without Redis. */
    fanout: RedisFanout | null;
    /** Server-to-server messages (every node runs each topic's handler for its own sockets). */
    bus: ClusterBus;
    /** The database's clock, as this node last measured it (deadlines follow it, not the node's). */
    clock: DbClock;
    /** The domain's notifications, delivered to sockets and feeds on every node. */
    notifier: SocketNotifier;
    /** Each attempt's timer, for the sockets on this node. */
    clocks: AttemptClocks;
    /** Who is connected, across nodes (Redis), with heartbeats so that a dead node's students turn offline. */
    presence: Presence;
    /** Progress for the invigilators, throttled per student. */
    progress: ProgressTracker;
    /** The plain-WebSocket feeds of this node. */
    feeds: FeedHub;
    /** Repairs this node's caches (deadlines, status, invigilator rooms) and consoles (the roster) from the database. */
    resync: NodeResync;
    examNsp: ExamNamespace;
    invigilatorNsp: InvigilatorNamespace;
    /** Tells every node that an exam was edited (their in-process question caches drop it). */
    examChanged(examId: number): void;
    /** Tells every node who invigilates an exam now (consoles and feeds of the others stop). */
    invigilatorsChanged(examId: number, invigilatorIds: number[]): void;
  }
}

/**
 * Socket.IO on the HTTP server, fanned out across nodes through Redis when `REDIS_URL` is set, and
 * what sits on it for every node: the bus, the notifier, timers, presence and progress.
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const io = createSocketServer(app.server, config.allowedOrigins);
    const fanout = config.redisUrl ? attachRedisAdapter(io, config.redisUrl, config.redisKeyPrefix, app.log) : null;
    const bus = new ClusterBus(mainNamespace(io), fanout !== null, app.log);
    const examNsp = examNamespace(io);
    const invigilatorNsp = invigilatorNamespace(io);
    const clock = new DbClock();
    // Before the node serves anything: one that has not started an attempt yet still keeps the database's time.
    await clock
      .measure(() => databaseNow(app.orm))
      .catch((err: unknown) => app.log.warn({ err }, "could not read the database's clock; using this node's until an attempt starts"));
    const clocks = new AttemptClocks(examNsp, clock, { syncMs: config.timerSyncMs });
    const notifier: SocketNotifier = new SocketNotifier(examNsp, bus, () => progress);
    const progress = new ProgressTracker(app.stores.roster, (examId, updates) => notifier.rosterNow(examId, updates), app.log, config.progressIntervalMs);
    const presence = new Presence(
      app.redis,
      config.redisKeyPrefix,
      (changes) => {
        // One message per exam (a node back from a Redis outage reports all of its students at once).
        const byExam = new Map<number, RosterUpdate[]>();
        for (const c of changes) {
          const list = byExam.get(c.examId) ?? [];
          list.push({ attemptId: c.attemptId, student: { id: c.studentId }, connected: c.connected });
          byExam.set(c.examId, list);
        }
        for (const [examId, updates] of byExam) notifier.roster(examId, updates.length === 1 ? updates[0]! : updates);
      },
      app.log,
      // Scored with the database's time, like every deadline: the nodes' own clocks may disagree.
      { ...config.presence, now: () => clock.nowMs() },
    );
    bus.on('exam-changed', ({ examId }) => app.questions.evict(examId));

    app.decorate('io', io);
    app.decorate('fanout', fanout);
    app.decorate('bus', bus);
    app.decorate('clock', clock);
    app.decorate('notifier', notifier);
    app.decorate('clocks', clocks);
    app.decorate('presence', presence);
    app.decorate('progress', progress);
    const feeds = new FeedHub(app.log);
    const resync = new NodeResync({
      examNsp,
      invigilatorNsp,
      clocks,
      feeds,
      roster: app.stores.roster,
      exams: app.stores.exams,
      presence,
      log: app.log,
      intervalMs: config.resyncIntervalMs,
      now: () => clock.nowMs(),
    });
    // The resync tells only the ends this node's sockets missed, and never pushes a roster field older than one just sent.
    bus.tap('ended', ({ attemptId }) => resync.noteEnded(attemptId));
    bus.tap('invigilators', (d) => resync.noteDelivered(d));
    // A cross-node message sent while the subscriber was away is lost: re-read what it would have said.
    fanout?.onRestored(() => void resync.run());
    app.decorate('feeds', feeds);
    app.decorate('resync', resync);
    app.decorate('examNsp', examNsp);
    app.decorate('invigilatorNsp', invigilatorNsp);
    app.decorate('examChanged', (examId: number) => bus.publish('exam-changed', { examId }));
    app.decorate('invigilatorsChanged', (examId: number, invigilatorIds: number[]) =>
      bus.publish('invigilators-changed', { examId, invigilatorIds }),
    );

    app.addHook('onReady', async () => {
      presence.start();
      resync.start();
    });
    app.addHook('onClose', async () => {
      resync.stop();
      await progress.close();
      notifier.flushRoster();
      clocks.close();
      await presence.stop();
      await io.close().catch(() => undefined);
      await fanout?.close();
    });

    // Like the cache client, the adapter's pair gets a few seconds to connect before the node says it is ready.
    if (fanout && (await Promise.all([waitReady(fanout.pub, 5000), waitReady(fanout.sub, 5000)])).includes(false)) {
      app.log.warn('Redis (fan-out) is not reachable yet: starting anyway, /readyz says so until it is');
    }
  },
  { name: 'realtime', fastify: '5.x', dependencies: ['database', 'redis', 'question-cache'] },
);
