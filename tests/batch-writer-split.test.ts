/**
 * A batch refused for its data fails only its bad items, never its neighbours (issue 9, item 1):
 * the BatchWriter (inside the ProctorLog, the audit writer) with the real AuditStore on real
 * PostgreSQL. The bad entry bypasses the edge schemas (it is handed to the writer directly) and holds
 * a string `jsonb` refuses (`\u0000`). Unreachable-database failures keep the retry/UNAVAILABLE path.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditStore, type AuditRow } from '../server/db/audit-store.js';
import { isTransientDatabaseError } from '../server/db/unavailable.js';
import { AppError } from '../server/errors.js';
import { ProctorLog } from '../server/exam/proctor-log.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { createExam, createUsers } from './helpers/exam.js';
import { sql } from './helpers/pg.js';

let t: TestApp;
let examId: number;

beforeAll(async () => {
  t = await createTestApp({ env: { LOG_LEVEL: 'fatal' } });
  const [admin] = await createUsers(t.app, 1, 'admin');
  examId = (await createExam(t.app, admin!, examBody(1, 1))).id;
});

const entry = (type: string, detail: Record<string, unknown> | null = { n: 1 }): AuditRow => ({
  examId,
  attemptId: null,
  actorId: null,
  type,
  detail,
  at: new Date(),
});
const typesWritten = async (prefix: string) =>
  (await sql<{ type: string }>(t.databaseUrl, `select type from proctor_events where type like $1 order by type`, [`${prefix}%`])).map((r) => r.type);

describe('BatchWriter: a data error fails only the items at fault', () => {
  it('writes every neighbour of a bad entry in the same batch, and refuses the bad one alone', async () => {
    let writes = 0;
    const store = new AuditStore(t.app.orm.em);
    const counting = { append: (rows: readonly AuditRow[]) => (writes++, store.append(rows)) } as unknown as AuditStore;
    const log = new ProctorLog(counting, t.app.log, { retryable: isTransientDatabaseError, flushIntervalMs: 30 });

    const names = Array.from({ length: 16 }, (_, i) => `split-a-${String(i).padStart(2, '0')}`);
    const results = await Promise.allSettled(
      names.map((type, i) => log.record(entry(type, i === 5 ? { note: 'nul \u0000 here' } : { n: i }))),
    );
    expect(results.map((r) => r.status)).toEqual(names.map((_, i) => (i === 5 ? 'rejected' : 'fulfilled')));
    expect(await typesWritten('split-a-')).toEqual(names.filter((_, i) => i !== 5));
    // One failed batch, then halves down to the bad entry: 1 + 2·log2(16) writes at most.
    expect(writes).toBeGreaterThan(1);
    expect(writes).toBeLessThanOrEqual(1 + 2 * 4);
    // The refusal is the database's own error, not a retryable UNAVAILABLE (retrying would never help).
    const refused = results[5] as PromiseRejectedResult;
    expect(refused.reason).not.toBeInstanceOf(AppError);
    expect(isTransientDatabaseError(refused.reason)).toBe(false);
    await log.close();
  });

  it('two bad entries (a lone surrogate in a key, a NUL): only those two fail', async () => {
    const log = new ProctorLog(new AuditStore(t.app.orm.em), t.app.log, { retryable: isTransientDatabaseError, flushIntervalMs: 30 });
    const names = Array.from({ length: 10 }, (_, i) => `split-b-${i}`);
    const bad = new Map<number, Record<string, unknown>>([
      [0, { ['\ud800']: 1 }],
      [7, { text: 'a\u0000b' }],
    ]);
    const results = await Promise.allSettled(names.map((type, i) => log.record(entry(type, bad.get(i) ?? { n: i }))));
    expect(results.map((r) => r.status)).toEqual(names.map((_, i) => (bad.has(i) ? 'rejected' : 'fulfilled')));
    expect(await typesWritten('split-b-')).toEqual(names.filter((_, i) => !bad.has(i)));
    await log.close();
  });

  it('an unreachable database is still retried and then refused as UNAVAILABLE, never split', async () => {
    let writes = 0;
    const unreachable = {
      append: async () => {
        writes++;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      },
    } as unknown as AuditStore;
    const log = new ProctorLog(unreachable, t.app.log, { retryable: isTransientDatabaseError, flushIntervalMs: 5, retries: 2 });
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => log.record(entry(`split-c-${i}`))));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'UNAVAILABLE' });
    }
    expect(writes).toBe(3); // the first try and two retries, of the whole batch
    await log.close();
  });
});
