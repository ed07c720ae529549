// Shared vitest settings for every package: Node environment, long timeouts for
// numerical tests on slow CPUs, and one worker so tfjs backends are not fought over.
import { defineConfig } from 'vitest/config';

export function tarflowVitest(overrides = {}) {
  return defineConfig({
    test: {
      environment: 'node',
      include: ['test/**/*.test.ts'],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks',
      poolOptions: { forks: { singleFork: true } },
      ...overrides,
    },
  });
}
