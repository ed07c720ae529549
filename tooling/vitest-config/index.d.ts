import type { UserConfig } from 'vitest/config';

/** Shared vitest settings for every package; `overrides` replace fields of `test`. */
export function tarflowVitest(overrides?: UserConfig['test']): UserConfig;
