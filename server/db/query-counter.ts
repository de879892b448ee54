import type { MikroORM } from '@mikro-orm/postgresql';

interface KnexQueryEvent {
  sql: string;
}

/**
 * Counts the SQL statements the ORM sends, via the query builder's `query` event. Tests use it to
 * assert statement budgets (`await counter.count(() => op())`); `/metrics` exports the running total.
 */
export class QueryCounter {
  private recording: string[] | null = null;
  total = 0;

  constructor(orm: MikroORM) {
    orm.em
      .getConnection()
      .getKnex()
      .on('query', (q: KnexQueryEvent) => {
        this.total++;
        this.recording?.push(q.sql);
      });
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
