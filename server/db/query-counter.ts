import type { MikroORM } from '@mikro-orm/postgresql';

/** The part of a `pg` pool client the counter wraps. */
interface CountedClient {
  query: (...args: never[]) => unknown;
}
/** The part of the `pg` pool the counter listens to (`acquire` fires on every checkout). */
interface PoolEvents {
  on(event: 'acquire', listener: (client: CountedClient) => void): unknown;
}

/**
 * Counts the SQL statements the ORM sends, at the `pg` driver: every `client.query`, so BEGIN, COMMIT
 * and ROLLBACK count as well as MikroORM's own statements. Tests use it to assert statement budgets
 * (`await counter.record(() => op())`); `/metrics` exports the running total.
 */
export class QueryCounter {
  private recording: string[] | null = null;
  total = 0;

  private constructor() {}

  /** Wraps every client of `orm`'s connection pool (each one once, on its first checkout). */
  static async attach(orm: MikroORM): Promise<QueryCounter> {
    const counter = new QueryCounter();
    const pool = (await orm.em.getConnection().getNativeClient()) as unknown as PoolEvents;
    const wrapped = new WeakSet<CountedClient>();
    pool.on('acquire', (client) => {
      if (wrapped.has(client)) return;
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      client.query = ((...args: unknown[]) => {
        counter.total++;
        const first = args[0];
        counter.recording?.push(typeof first === 'string' ? first : String((first as { text?: unknown })?.text));
        return query(...args);
      }) as CountedClient['query'];
    });
    return counter;
  }

  /** Runs `fn` and returns the statements sent while it ran (BEGIN/COMMIT included). */
  async record<T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
    const statements: string[] = [];
    const previous = this.recording;
    this.recording = statements;
    try {
      const result = await fn();
      return { result, statements };
    } finally {
      this.recording = previous;
      previous?.push(...statements);
    }
  }
}

/** True for transaction control statements, which budgets count apart from real work. */
export function isTransactionControl(sql: string): boolean {
  return /^\s*(begin|commit|rollback|savepoint|release savepoint)\b/i.test(sql);
}
