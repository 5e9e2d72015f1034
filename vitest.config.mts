import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal worker's native runtime wants a process of its own, not a worker thread.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
