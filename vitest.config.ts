import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // The exhaustive and property tests take seconds, beside the e2e files on two shared cores: a timeout here
          // would assert speed, which is the benchmarks' job.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['./test/harness/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // Two cores: e2e files run one at a time so timings stay meaningful.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
