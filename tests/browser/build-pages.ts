import { fileURLToPath } from 'node:url';
import { build } from 'vite';

/**
 * Vitest global setup: builds the browser pages once per run (about a second), so that the browser
 * tests load what `npm start` would serve, never a stale build.
 */
export default async function setup(): Promise<void> {
  await build({ configFile: fileURLToPath(new URL('../../web/vite.config.ts', import.meta.url)), logLevel: 'warn' });
}
