import type { AddressInfo } from 'node:net';
import { buildApp, type App } from './app.js';
import type { Config } from './config.js';

/** Longest a process drains on SIGTERM/SIGINT before it gives up and exits 1. */
const DRAIN_TIMEOUT_MS = 20_000;

/**
 * SIGTERM/SIGINT: stop taking requests and socket events, drain every buffer to the database
 * (`app.close()`), exit 0; exit 1 on an error or after {@link DRAIN_TIMEOUT_MS}.
 */
function drainOnSignals(app: App): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining connections and buffers');
    const force = setTimeout(() => {
      app.log.error(`shutdown took longer than ${DRAIN_TIMEOUT_MS / 1000} s, exiting`);
      process.exit(1);
    }, DRAIN_TIMEOUT_MS);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** What the start-up log says about the storage of this deployment. */
function modeFields(config: Config): { database: string; cache: string } {
  return {
    database: config.databaseUrl
      ? 'PostgreSQL (DATABASE_URL)'
      : `embedded PGlite in ${config.dataDir} (for trying the product, not for an exam day)`,
    cache: config.redisUrl ? 'Redis (REDIS_URL)' : 'in-process (single node)',
  };
}

/** The listening socket's accept queue (see `serve`). */
export const LISTEN_BACKLOG = 4096;

/** One node: build the app, listen on `PORT`, drain on SIGTERM/SIGINT. */
export async function serve(config: Config): Promise<void> {
  const app = await buildApp(config);
  if (config.jwtSecretGenerated) {
    app.log.warn(
      'JWT_SECRET is not set: generated a random one for this process (tokens end with it). Set JWT_SECRET for anything beyond a trial.',
    );
  }
  app.log.info(modeFields(config), 'mode');
  drainOnSignals(app);
  // Node's default accept queue is 511: at an exam's start a node a few hundred ms behind on a burst of
  // connects overflows it, and the kernel drops the SYNs (the client retries after 1 s, then 3 s; a
  // proxy in front gives up with 502 after its connect timeout). A deeper queue makes them wait instead.
  // The kernel caps it at net.core.somaxconn (4096 on current Linux).
  await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  const host = ['0.0.0.0', '::'].includes(config.host) ? 'localhost' : config.host;
  const demo = config.seedOnStart ? ` (demo: sign in as student1@example.com or invigilator@example.com, password ${config.demoPassword})` : '';
  app.log.info(`open http://${host}:${(app.server.address() as AddressInfo).port}/ in a browser${demo}`);
}
