import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal worker's native runtime wants a process of its own, not a worker thread.
    pool: 'forks',
    // Most of the suite waits on real timeouts (a killed worker's retry, a 30 s outage), not on the CPU.
    maxWorkers: 3,
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // The real multi-process Temporal server: `npm run test:cluster` (vitest.cluster.config.mts).
    exclude: ['**/node_modules/**', 'test/cluster/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
