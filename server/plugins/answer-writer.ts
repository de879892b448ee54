import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { isTransientDatabaseError } from '../db/unavailable.js';
import { AnswerWriter } from '../exam/answer-writer.js';
import { ProctorLog } from '../exam/proctor-log.js';
import { failpoints } from '../failpoints.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Streamed answers, written in batches and acknowledged once durable. */
    answers: AnswerWriter;
    /** The audit log of proctoring signals, written in batches (invigilator actions are audited in their own transaction). */
    audit: ProctorLog;
  }
}

/** The two batch writers. On close they drain: every buffered answer and audit entry is written. */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    // A batch refused for its data is split so that only its bad items fail; unreachable: retried, then UNAVAILABLE.
    const retryable = isTransientDatabaseError;
    const answers = new AnswerWriter(app.stores.answers, app.log, { ...config.answers, retryable }, failpoints(config.failpoints));
    const audit = new ProctorLog(app.stores.audit, app.log, { retryable });
    app.decorate('answers', answers);
    app.decorate('audit', audit);
    app.addHook('onClose', async () => {
      await answers.close();
      await audit.close();
    });
  },
  { name: 'answer-writer', fastify: '5.x', dependencies: ['database'] },
);
