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
 *
 * The same release is missing when the outage cuts the `BEGIN` itself: `ControlledTransactionBuilder`
 * acquires the connection, `beginTransaction` throws, and nothing ever hands the connection back
 * (seen as a pool stuck one connection short after an outage caught the deadline sweeper at its
 * `BEGIN`). There the connection is released here, before the error goes on. kysely's other
 * transaction path (`db.transaction().execute(fn)`, which MikroORM does not use) releases in its own
 * `finally`; so that it cannot release twice, a connection released here is marked and the next
 * `releaseConnection` of it is skipped (the mark is cleared when the connection is acquired again).
 *
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

/** Connections handed back by a failed `beginTransaction`, until their next acquisition. */
const releasedEarly = new WeakSet<DatabaseConnection>();

const acquire = PostgresDriver.prototype.acquireConnection;
PostgresDriver.prototype.acquireConnection = async function acquireConnection(this: PostgresDriver, ...args: Parameters<typeof acquire>) {
  const connection = await acquire.apply(this, args);
  releasedEarly.delete(connection);
  return connection;
};

const release = PostgresDriver.prototype.releaseConnection;
type PooledConnection = Parameters<typeof release>[0];
PostgresDriver.prototype.releaseConnection = async function releaseConnection(this: PostgresDriver, connection: PooledConnection) {
  if (releasedEarly.delete(connection)) return;
  await release.call(this, connection);
};

const begin = PostgresDriver.prototype.beginTransaction;
PostgresDriver.prototype.beginTransaction = async function beginTransaction(
  this: PostgresDriver,
  connection: DatabaseConnection,
  settings: Parameters<typeof begin>[1],
) {
  try {
    await begin.call(this, connection, settings);
  } catch (err) {
    if (isDatabaseUnavailable(err) && !releasedEarly.has(connection)) {
      releasedEarly.add(connection);
      await release.call(this, connection as PooledConnection);
    }
    throw err;
  }
};
