import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITY_SCHEMAS } from '../../entities/index.js';
import { MIGRATIONS } from '../../migrations/index.js';
import './dead-connection-release.js';

export interface OrmOptions {
  /** postgres:// URL of the database. */
  clientUrl: string;
  /** Connection pool: reused connections, at most `max`, idle ones above `min` closed after `idleTimeoutMs`. */
  pool: { min: number; max: number; idleTimeoutMs: number };
  /** Print every SQL statement (MikroORM's query logger). @default false */
  debug?: boolean;
  /** Where MikroORM's own messages (migrations applied, …) go. @default console */
  log?: (message: string) => void;
}

/** MikroORM options for this schema; shared by the server, the CLI config and the tests. */
export function ormOptions(opts: OrmOptions): Options {
  return {
    clientUrl: opts.clientUrl,
    entities: ENTITY_SCHEMAS,
    extensions: [Migrator],
    forceUtcTimezone: true,
    // Every unit of work forks the EntityManager explicitly; touching the global one is a bug.
    allowGlobalContext: false,
    debug: opts.debug ?? false,
    ...(opts.log ? { logger: opts.log } : {}),
    discovery: { warnWhenNoEntities: true },
    pool: { min: opts.pool.min, max: opts.pool.max, idleTimeoutMillis: opts.pool.idleTimeoutMs },
    migrations: {
      // An explicit list (not a folder glob) so the same code runs from TypeScript under tsx/vitest
      // and from the compiled build.
      migrationsList: MIGRATIONS,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      path: 'migrations',
      pathTs: 'migrations',
      emit: 'ts',
    },
  };
}

/** Connects and applies every pending migration. */
export async function openDatabase(opts: OrmOptions): Promise<MikroORM> {
  const orm = await MikroORM.init(ormOptions(opts));
  try {
    await orm.migrator.up();
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  return orm;
}
