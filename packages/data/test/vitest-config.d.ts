// Types for the shared, untyped vitest preset (tooling/vitest-config/index.js).
declare module '@tarflow/vitest-config' {
  import type { UserConfig } from 'vitest/config';
  export function tarflowVitest(overrides?: Record<string, unknown>): UserConfig;
}
