import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/*.test.ts', 'core/**/*.test.ts', 'runtime/**/*.test.ts', 'webhook/**/*.test.ts', 'reaper/**/*.test.ts', 'cli/**/*.test.ts', 'test/chart/**/*.test.ts'],
          // The chart's tests against the test cluster run in the cluster project.
          exclude: [...configDefaults.exclude, 'test/chart/**/*.cluster.test.ts'],
          testTimeout: 30_000,
          // Every core (vitest's default leaves one free): on 2 cores the unit project takes ~35 s, not ~50.
          maxWorkers: '100%',
        },
      },
      {
        test: {
          name: 'cluster',
          // test/e2e: Argo's real controller on the same cluster (started by those files, not here).
          include: ['test/integration/**/*.test.ts', 'test/chart/**/*.cluster.test.ts', 'test/e2e/**/*.test.ts', 'test/hardening/**/*.test.ts'],
          // The e2e files need Argo's workflow-controller built (once, cached) before the cluster starts.
          globalSetup: ['test/e2e/global-setup.ts', 'test/integration/global-setup.ts'],
          // One cluster serves every file; files run one after another so they never race on it.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
