import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

/** Entry point: read the config, build the app, listen, and drain on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }

  const app = await buildApp(config);
  if (config.jwtSecretGenerated) {
    app.log.warn(
      'JWT_SECRET is not set: generated a random one for this process (tokens end with it). Set JWT_SECRET for anything beyond a trial.',
    );
  }
  app.log.info(
    {
      database: app.databaseMode === 'embedded' ? `embedded PGlite in ${config.dataDir} (for trying the product, not for an exam day)` : 'PostgreSQL (DATABASE_URL)',
      cache: config.redisUrl ? 'Redis (REDIS_URL)' : 'in-process (single node)',
    },
    'mode',
  );

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining connections and buffers');
    const force = setTimeout(() => {
      app.log.error('shutdown took longer than 20 s, exiting');
      process.exit(1);
    }, 20_000);
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

  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
