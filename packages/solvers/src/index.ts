/**
 * @tarflow/solvers — inversion of causal autoregressive affine maps.
 *
 * One small interface (CausalAffineMap) and solvers over it: the exact
 * sequential KV-cache loop, plain Jacobi and GS-Jacobi, the joint solve of a
 * chain of maps, with a divergence guard and a report of every solve; the
 * strategies that choose between them (strategy.ts). Solvers are step
 * generators driven by runSync or runAsync. Any causal map can be inverted —
 * a TarFlow block is one implementation.
 */
export * from './map.js';
export * from './strategy.js';
export * from './solve.js';
export * from './report.js';
export * from './chain.js';
export * from './guess-table.js';
