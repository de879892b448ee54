import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery } from 'kysely';

/**
 * Runs one hand-written statement with real bind parameters (`$1`, `$2`, …: a JS array travels as a
 * PostgreSQL array, a Date as a timestamp) through the EntityManager's Kysely instance, so it joins the
 * EntityManager's transaction when there is one. `em.execute` would inline every value into the SQL
 * text instead. Only the stores in this folder call it.
 */
export async function query<Row>(em: EntityManager, text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
  const result = await em.getKysely().executeQuery<Row>(CompiledQuery.raw(text, [...parameters]));
  return [...result.rows];
}

/** A timestamp column as a Date, whether the driver returned a string (MikroORM's parsers) or a Date. */
export const toDate = (value: string | Date): Date => (value instanceof Date ? value : new Date(value));
export const toDateOrNull = (value: string | Date | null): Date | null => (value === null ? null : toDate(value));
