import type { MikroORM } from '@mikro-orm/postgresql';

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

/** The connection pool's counters (metrics). */
export async function poolCounts(orm: MikroORM): Promise<PgPoolCounts> {
  return (await orm.em.getConnection().getNativeClient()) as unknown as PgPoolCounts;
}
