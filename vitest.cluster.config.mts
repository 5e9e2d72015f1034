import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the service against the real Temporal server as a multi-process cluster
 * (src/dev/temporal-cluster.ts). Not part of `npm test`: the first run builds the server with Go.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 1,
    globalSetup: ['test/cluster/global-setup.ts'],
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
