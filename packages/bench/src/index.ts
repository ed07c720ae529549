/**
 * @tarflow/bench — benchmarks of TarFlow samplers: measuring (one median,
 * timed strategy runs, pass cost, tfjs tensor bytes and peak RSS), the
 * per-backend profiles and run of `tarflow bench`, the GPU benchmark's
 * strategy and planner timings, the results as data types, and the
 * renderers of both reports.
 */
export * from './measure.js';
export * from './format.js';
export * from './results.js';
export * from './profiles.js';
export * from './mnist.js';
export * from './backend-bench.js';
export * from './model-bench.js';
export * from './planner-bench.js';
export * from './render.js';
export * from './render-gpu.js';
export * from './reference.js';
export * from './planning-bench.js';
