import type { Options } from 'tsup';

/** The build every package shares: ESM with types and source maps for the given entry files (default src/index.ts). */
export function tarflowTsup(entry?: string[], options?: { dtsBanner?: string }): Options;
