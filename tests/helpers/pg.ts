import pg from 'pg';

/** Runs one SQL statement on `databaseUrl` over a short-lived connection of its own (not the app's pool). */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** `select count(*)` as a number. */
export async function countRows(databaseUrl: string, from: string, params: unknown[] = []): Promise<number> {
  const rows = await sql<{ n: string }>(databaseUrl, `select count(*)::text as n from ${from}`, params);
  return Number(rows[0]!.n);
}
