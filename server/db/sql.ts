import type { EntityManager, Kysely } from '@mikro-orm/postgresql';

type CompiledQuery = Extract<Parameters<Kysely<unknown>['executeQuery']>[0], { sql: string }>;

/**
 * Runs one hand-written statement with real bind parameters (`$1`, `$2`, …: a JS array travels as a
 * PostgreSQL array, a Date as a timestamp) through the EntityManager's Kysely instance, so it joins the
 * EntityManager's transaction when there is one. `em.execute` would inline every value into the SQL
 * text instead. Only the stores in this folder call it.
 */
export async function query<Row>(em: EntityManager, text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
  const compiled: CompiledQuery = {
    sql: text,
    parameters,
    query: { kind: 'RawNode', sqlFragments: [text], parameters: [] } as unknown as CompiledQuery['query'],
    // Kysely's plugins key their state by this object's identity, not by its text.
    queryId: { queryId: 'store' },
  };
  const result = await em.getKysely().executeQuery<Row>(compiled);
  return result.rows as Row[];
}

/** A timestamp column as a Date, whether the driver returned a string (MikroORM's parsers) or a Date. */
export const toDate = (value: string | Date): Date => (value instanceof Date ? value : new Date(value));
export const toDateOrNull = (value: string | Date | null): Date | null => (value === null ? null : toDate(value));
