import { PostgresDriver, type DatabaseConnection } from 'kysely';
import { isDatabaseUnavailable } from './unavailable.js';

/**
 * Works around kysely 0.29's `ControlledTransaction` (what MikroORM's `em.transactional` runs on),
 * which releases its pooled connection only after a *successful* `rollback` (or `commit`):
 * <https://github.com/kysely-org/kysely/issues/1990>. When PostgreSQL goes away in the middle of a
 * transaction, the rollback that follows fails on the dead connection, the connection is never handed
 * back, and the pool keeps counting it: one connection lost per transaction caught by an outage, until
 * the pool is exhausted for good and `orm.close()` hangs on it. (Measured: pool of 3, one outage during
 * a transaction left `totalCount 2, idleCount 1` with nothing running, and shutdown never finished.)
 *
 * A rollback that fails because the connection is gone has nothing left to roll back (PostgreSQL
 * aborts a transaction whose session ends), so it is treated as done: kysely then releases the
 * connection, and `pg-pool` discards it because it is no longer queryable. Any other rollback failure
 * is thrown as before. MikroORM rolls back after a failed commit too, so that path is covered as well.
 * Applied once, when server/db/orm.ts is imported; remove it when kysely releases in a `finally`.
 */
const rollback = PostgresDriver.prototype.rollbackTransaction;
PostgresDriver.prototype.rollbackTransaction = async function rollbackTransaction(this: PostgresDriver, connection: DatabaseConnection) {
  try {
    await rollback.call(this, connection);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
  }
};
