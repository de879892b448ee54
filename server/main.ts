import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { checkClusterConfig, runPrimary, runWorker } from './cluster.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { serveSingle } from './serve.js';

/** The environment, with `--workers N` (which overrides `WORKERS`) applied; a bad value is a ConfigError. */
function readConfig(): Config {
  let flag: string | undefined;
  try {
    const { values } = parseArgs({ options: { workers: { type: 'string' } }, allowPositionals: false });
    flag = values.workers;
  } catch (err) {
    throw new ConfigError('arguments', `are not understood: ${(err as Error).message} (the only option is --workers N)`);
  }
  try {
    return loadConfig(flag === undefined ? process.env : { ...process.env, WORKERS: flag });
  } catch (err) {
    if (err instanceof ConfigError && err.variable === 'WORKERS' && flag !== undefined) {
      throw new ConfigError('--workers', `must be an integer between 1 and 64, got "${flag}"`);
    }
    throw err;
  }
}

/** Entry point: one process (`WORKERS=1`), or a cluster primary and its workers (`WORKERS`/`--workers` > 1). */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = readConfig();
    if (cluster.isPrimary) checkClusterConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }

  if (cluster.isWorker) await runWorker(config);
  else if (config.workers > 1) await runPrimary(config);
  else await serveSingle(config);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
