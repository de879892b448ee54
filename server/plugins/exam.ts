import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { AttemptService } from '../exam/attempts.js';
import { InvigilationService } from '../exam/invigilation.js';
import { ResultService } from '../exam/results.js';
import { DeadlineSweeper } from '../exam/sweeper.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Starting, answering, submitting and ending attempts. */
    attempts: AttemptService;
    /** The invigilator's roster and actions. */
    invigilation: InvigilationService;
    /** Results of an attempt (its student's, once ended) and of an exam (its invigilators'). */
    results: ResultService;
    /** Auto-submits attempts past deadline + grace, on every node (each attempt once). */
    sweeper: DeadlineSweeper;
  }
}

/** The domain services of the live exam, shared by the socket handlers and the HTTP routes. */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { stores, questions, answers, audit, notifier, clock } = app;
    const attempts = new AttemptService({
      attemptStore: stores.attempts,
      answerStore: stores.answers,
      cache: questions,
      answers,
      proctor: audit,
      notifier,
      clock,
      log: app.log,
    });
    const invigilation = new InvigilationService({
      attemptStore: stores.attempts,
      exams: stores.exams,
      roster: stores.roster,
      attempts,
      auditStore: stores.audit,
      notifier,
      clock,
    });
    const sweeper = new DeadlineSweeper(stores.attempts, answers, notifier, app.log, { intervalMs: config.sweepIntervalMs });
    app.decorate('attempts', attempts);
    app.decorate('invigilation', invigilation);
    app.decorate('results', new ResultService(stores));
    app.decorate('sweeper', sweeper);
    app.addHook('onReady', async () => sweeper.start());
    app.addHook('onClose', () => sweeper.stop());
  },
  { name: 'exam', fastify: '5.x', dependencies: ['database', 'question-cache', 'answer-writer', 'realtime'] },
);
