import type { MikroORM } from '@mikro-orm/postgresql';
import { toDate } from './sql.js';

/** The counters of a `pg` pool. */
export interface PgPoolCounts {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/** Resolves when the database answers a trivial statement; rejects otherwise (readiness). */
export async function pingDatabase(orm: MikroORM): Promise<void> {
  await orm.em.getConnection().execute('select 1');
}

/** The database's clock (`now()`), for a node to follow instead of its own. */
export async function databaseNow(orm: MikroORM): Promise<Date> {
  const [row] = (await orm.em.getConnection().execute('select now() as now')) as { now: string | Date }[];
  return toDate(row!.now);
}

/** The connection pool's counters (metrics). */
export async function poolCounts(orm: MikroORM): Promise<PgPoolCounts> {
  return (await orm.em.getConnection().getNativeClient()) as unknown as PgPoolCounts;
}
