import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: { 'etcd-concurrency': fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
  },
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // VITEST_JSON=<file> also writes the results as JSON (.ci/run prints its closing line from it).
    reporters: process.env.VITEST_JSON ? ['default', ['json', { outputFile: process.env.VITEST_JSON }]] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'etcd',
          include: ['spec/**/*.spec.ts'],
          exclude: ['spec/package/**', 'spec/setup/**'],
          // Starts (or finds) the etcd the suite shares: spec/support/target.ts.
          globalSetup: ['spec/support/global-setup.ts'],
          typecheck: { enabled: true, include: ['spec/**/*.test-d.ts'] },
        },
      },
      {
        // No etcd needed (`vitest run --project no-etcd`): the packed package in throwaway consumer
        // projects, and what npm test says where it cannot run.
        extends: true,
        test: { name: 'no-etcd', include: ['spec/package/**/*.spec.ts', 'spec/setup/**/*.spec.ts'] },
      },
    ],
  },
});
