import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { AttemptService } from '../exam/attempts.js';
import { InvigilationService } from '../exam/invigilation.js';
import { DeadlineSweeper } from '../exam/sweeper.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Starting, answering, submitting and ending attempts. */
    attempts: AttemptService;
    /** The invigilator's roster and actions. */
    invigilation: InvigilationService;
    /** Auto-submits attempts past deadline + grace, on every node (each attempt once). */
    sweeper: DeadlineSweeper;
  }
}

/** The domain services of the live exam, shared by the socket handlers and the HTTP routes. */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { orm, questions, answers, audit, notifier, clock } = app;
    const attempts = new AttemptService({ orm, cache: questions, answers, proctor: audit, notifier, clock, log: app.log });
    const invigilation = new InvigilationService({ orm, attempts, audit, notifier, clock });
    const sweeper = new DeadlineSweeper(orm, answers, notifier, app.log, { intervalMs: config.sweepIntervalMs });
    app.decorate('attempts', attempts);
    app.decorate('invigilation', invigilation);
    app.decorate('sweeper', sweeper);
    app.addHook('onReady', async () => sweeper.start());
    app.addHook('onClose', () => sweeper.stop());
  },
  { name: 'exam', fastify: '5.x', dependencies: ['database', 'question-cache', 'answer-writer', 'realtime'] },
);
