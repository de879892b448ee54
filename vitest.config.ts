import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // The browser tests load the built pages: build them once per run (web/vite.config.ts).
    globalSetup: ['tests/browser/build-pages.ts'],
    // Each test file gets its own PostgreSQL database (tests/helpers/db.ts), so files can run in
    // parallel; two workers match the 2-core machine the suite is sized for.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
