import { stripVTControlCharacters } from 'node:util';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import fp from 'fastify-plugin';
import { User } from '../../entities/user.js';
import type { Config } from '../config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../db/embedded.js';
import { openDatabase } from '../db/orm.js';
import { QueryCounter } from '../db/query-counter.js';
import { createStores, type Stores } from '../db/stores.js';
import { seedDemo } from '../exam/demo-data.js';

declare module 'fastify' {
  interface FastifyInstance {
    orm: MikroORM;
    /** Every SQL statement this process sends, counted (budgets in tests, a counter on /metrics). */
    queries: QueryCounter;
    /** 'postgres' for `DATABASE_URL`, 'embedded' for PGlite. */
    databaseMode: 'postgres' | 'embedded';
    /** Every SQL statement of the product, by what it answers (server/db/). */
    stores: Stores;
  }
  interface FastifyRequest {
    /** A fresh EntityManager fork: one unit of work per request. */
    em: EntityManager;
  }
}

/**
 * PostgreSQL through MikroORM, migrated on start: `DATABASE_URL`, or the embedded PGlite database
 * under `DATA_DIR` (one connection: PGlite serves one at a time). Seeds the demo data into an empty
 * database when `SEED_ON_START` says so. Closed last (it is registered first).
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    // MikroORM's messages (colour codes stripped) into the structured log.
    const log = (message: string) => app.log.info({ orm: true }, stripVTControlCharacters(message));
    let embedded: EmbeddedDatabase | undefined;
    let orm: MikroORM;
    if (config.databaseUrl) {
      orm = await openDatabase({ clientUrl: config.databaseUrl, pool: config.dbPool, log });
    } else {
      embedded = await startEmbeddedDatabase(config.dataDir);
      try {
        orm = await openDatabase({ clientUrl: embedded.url, pool: { min: 1, max: 1, idleTimeoutMs: 3_600_000 }, log });
      } catch (err) {
        await embedded.stop();
        throw err;
      }
    }
    app.addHook('onClose', async () => {
      await orm.close();
      await embedded?.stop();
    });

    app.decorate('orm', orm);
    app.decorate('databaseMode', embedded ? 'embedded' : 'postgres');
    app.decorate('queries', await QueryCounter.attach(orm));
    app.decorate('stores', createStores(orm));
    app.decorateRequest('em', null as unknown as EntityManager);
    app.addHook('onRequest', async (request) => {
      request.em = orm.em.fork();
    });

    if (config.seedOnStart && (await orm.em.fork().count(User)) === 0) {
      const result = await seedDemo(orm.em.fork(), { students: config.seedStudents, password: config.demoPassword });
      app.log.info(result, 'seeded the demo data (empty database)');
    }
  },
  { name: 'database', fastify: '5.x' },
);
