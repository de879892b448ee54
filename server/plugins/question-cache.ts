import fp from 'fastify-plugin';
import { QuestionCache } from '../cache/question-cache.js';
import type { Config } from '../config.js';
import { questionSetCodec, questionSetLoader, type QuestionSet } from '../exam/question-set.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Question sets by exam: in process, then Redis, then one database load (single-flight). */
    questions: QuestionCache<QuestionSet>;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    app.decorate(
      'questions',
      new QuestionCache(app.redis, questionSetLoader(app.stores.exams), questionSetCodec, app.log, {
        keyPrefix: config.redisKeyPrefix,
        ttlSeconds: config.questionCacheTtlSeconds,
      }),
    );
  },
  { name: 'question-cache', fastify: '5.x', dependencies: ['database', 'redis'] },
);
