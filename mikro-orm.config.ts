import { defineConfig } from '@mikro-orm/postgresql';
import { loadConfig } from './server/config.js';
import { ormOptions } from './server/db/orm.js';

/** For the MikroORM CLI (`npm run db:migration:create`); needs DATABASE_URL. */
const config = loadConfig();
if (!config.databaseUrl) throw new Error('Set DATABASE_URL to use the MikroORM CLI');
export default defineConfig(ormOptions({ clientUrl: config.databaseUrl, pool: config.dbPool }));
