import { loadConfig } from '../config.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { openDatabase } from '../db/orm.js';
import { seedDemo } from '../exam/demo-data.js';

/** `npm run seed`: idempotent demo data in DATABASE_URL (or the embedded database). */
const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await startEmbeddedDatabase(config.dataDir);
const orm = await openDatabase({
  clientUrl: config.databaseUrl ?? embedded!.url,
  pool: embedded ? { min: 1, max: 1, idleTimeoutMs: 60_000 } : config.dbPool,
});
try {
  const result = await seedDemo(orm.em.fork(), { students: config.seedStudents, password: config.demoPassword });
  console.log(JSON.stringify(result));
} finally {
  await orm.close();
  await embedded?.stop();
}
