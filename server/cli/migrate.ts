import { loadConfig } from '../config.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { openDatabase } from '../db/orm.js';

/** `npm run db:migrate`: apply pending migrations to DATABASE_URL (or the embedded database). */
const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await startEmbeddedDatabase(config.dataDir);
const orm = await openDatabase({
  clientUrl: config.databaseUrl ?? embedded!.url,
  pool: embedded ? { min: 1, max: 1, idleTimeoutMs: 60_000 } : config.dbPool,
});
const executed = await orm.migrator.getExecuted();
console.log(`migrations applied: ${executed.map((m) => m.name).join(', ') || 'none'}`);
await orm.close();
await embedded?.stop();
