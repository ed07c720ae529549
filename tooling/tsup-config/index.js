import { defineConfig } from 'tsup';

/**
 * The build every package shares: ESM with types and source maps for the
 * given entry files. Dependencies stay external, except tfjs-core's deep
 * `dist/` modules (gradients, chained ops): they are ES modules with
 * extensionless imports that Node cannot load, so they are bundled — the
 * engine, tensor class and registries they use are process-wide globals, so
 * they register into the program's one tfjs-core, as the umbrella
 * `@tensorflow/tfjs` does. ESM is also what CommonJS consumers get: Node
 * ≥ 20.19 require()s ES modules without top-level await. `dtsBanner` heads
 * every declaration file (the bundled declarations keep no side-effect imports).
 */
export function tarflowTsup(entry = ['src/index.ts'], { dtsBanner } = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: dtsBanner ? { banner: dtsBanner } : true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
  });
}
