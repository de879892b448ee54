import { ConfigError, loadConfig, type Config } from './config.js';
import { serve } from './serve.js';

/**
 * Entry point: one node, one process. Several nodes run behind a load balancer with sticky sessions
 * and share PostgreSQL and Redis (deploy/README.md).
 */
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
  await serve(config);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
