import { defineConfig } from 'tsup';

/** The build every package shares: ESM with types and source maps for the given entry files. */
export function tarflowTsup(entry = ['src/index.ts']) {
  return defineConfig({ entry, format: ['esm'], dts: true, sourcemap: true, clean: true, target: 'es2022' });
}
