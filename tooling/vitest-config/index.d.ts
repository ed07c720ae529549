import type { UserConfig } from 'vitest/config';

/** Per-test and per-hook timeout of the shared settings, in milliseconds. */
export declare const TEST_TIMEOUT_MS: number;

/** Shared vitest settings for every package; `overrides` replace fields of `test` (`setupFiles` are added to the shared one). */
export function tarflowVitest(overrides?: UserConfig['test']): UserConfig;
