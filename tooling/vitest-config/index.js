// Shared vitest settings for every package: Node environment, timeouts sized for
// numerical tests on a slow CPU with other work on the machine, and one worker
// so tfjs backends are not fought over.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Tolerates late acknowledgements of progress reports while a test holds the event loop (see the file). */
const BUSY_MACHINE_SETUP = fileURLToPath(new URL('./busy-machine.js', import.meta.url));

/** Per-test and per-hook limits: a test that takes a minute alone may take three with the other core busy. */
export const TEST_TIMEOUT_MS = 300_000;

export function tarflowVitest(overrides = {}) {
  const { setupFiles = [], ...rest } = overrides;
  return defineConfig({
    test: {
      environment: 'node',
      include: ['test/**/*.test.ts'],
      testTimeout: TEST_TIMEOUT_MS,
      hookTimeout: TEST_TIMEOUT_MS,
      teardownTimeout: 60_000,
      pool: 'forks',
      poolOptions: { forks: { singleFork: true } },
      setupFiles: [BUSY_MACHINE_SETUP, ...(Array.isArray(setupFiles) ? setupFiles : [setupFiles])],
      ...rest,
    },
  });
}
