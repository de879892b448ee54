import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../migrations/index.js';
import { openDatabase } from '../server/db/orm.js';
import { createTestDatabase } from './helpers/db.js';
import { countRows, sql } from './helpers/pg.js';

const POOL = { min: 0, max: 2, idleTimeoutMs: 1_000 };

describe('migrations', () => {
  let url: string;
  let orm: MikroORM;

  beforeAll(async () => {
    url = (await createTestDatabase()).url;
    orm = await openDatabase({ clientUrl: url, pool: POOL, log: () => {} });
  });
  afterAll(async () => {
    await orm?.close(true);
  });

  it('create every table of the domain on an empty database', async () => {
    const rows = await sql<{ table_name: string }>(
      url,
      `select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      [
        'attempt_answers',
        'attempts',
        'enrollments',
        'exam_invigilators',
        'exams',
        'mikro_orm_migrations',
        'options',
        'proctor_events',
        'questions',
        'sections',
        'users',
      ].sort(),
    );
  });

  it('create the indexes the hot paths rely on', async () => {
    const rows = await sql<{ tablename: string; indexname: string; indexdef: string }>(
      url,
      `select tablename, indexname, indexdef from pg_indexes where schemaname = 'public'`,
    );
    const def = (table: string, name: string) => rows.find((r) => r.tablename === table && r.indexname === name)?.indexdef;

    expect(def('exams', 'exams_is_published_index')).toMatch(/USING btree \(is_published\)$/);
    expect(def('attempt_answers', 'attempt_answers_pkey')).toMatch(/^CREATE UNIQUE INDEX .* \(attempt_id, question_id\)$/);
    expect(def('attempts', 'attempts_exam_id_student_id_unique')).toMatch(/^CREATE UNIQUE INDEX .* \(exam_id, student_id\)$/);
    expect(def('attempts', 'attempts_status_deadline_at_index')).toMatch(/USING btree \(status, deadline_at\)$/);
    expect(def('enrollments', 'enrollments_exam_id_student_id_unique')).toMatch(/^CREATE UNIQUE INDEX .* \(exam_id, student_id\)$/);
    expect(def('users', 'users_email_unique')).toMatch(/^CREATE UNIQUE INDEX .* \(email\)$/);

    // The composite key is the primary key itself (what the answer upsert conflicts on), not just a unique index.
    const pk = await sql<{ columns: string }>(
      url,
      `select string_agg(a.attname, ',' order by k.ord) as columns
         from pg_constraint c
         cross join lateral unnest(c.conkey) with ordinality as k(attnum, ord)
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        where c.conrelid = 'attempt_answers'::regclass and c.contype = 'p'`,
    );
    expect(pk[0]?.columns).toBe('attempt_id,question_id');
  });

  it('match the entities: the schema generator has nothing to change', async () => {
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });

  it('are a no-op the second time, in the same process and in a new one', async () => {
    expect(await orm.migrator.getPending()).toEqual([]);
    expect(await orm.migrator.up()).toEqual([]);

    const again = await openDatabase({ clientUrl: url, pool: POOL, log: () => {} });
    try {
      expect(await again.migrator.getPending()).toEqual([]);
    } finally {
      await again.close(true);
    }
    expect(await countRows(url, 'mikro_orm_migrations')).toBe(MIGRATIONS.length);
    expect(await countRows(url, 'exams')).toBe(0);
  });
});
