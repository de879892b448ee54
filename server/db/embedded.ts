import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded default: PGlite (PostgreSQL compiled to WebAssembly) stored under `dataDir`, served on a
 * loopback port so that MikroORM's ordinary PostgreSQL driver, migrations included, talks to it.
 *
 * Limits measured here, and why the pool is pinned to one connection: the socket server refuses a
 * second connection by default, a transaction on one connection blocks every other, COPY breaks it,
 * start-up takes 3-8 s and ~0.8 GB of memory. It is for trying the product, not for an exam day.
 */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
