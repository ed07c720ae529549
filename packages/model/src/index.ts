/**
 * @tarflow/model — TarFlow in TypeScript on tfjs: the model and its config
 * (tarflow.ts, config.ts, infer-config.ts), sampling through @tarflow/solvers
 * (sampling.ts, guidance.ts; the stacked all-block evaluation of the joint
 * solve in stack.ts), score-based denoising, and safetensors checkpoints with
 * the reference's tensor names (io.ts).
 */
export * from './config.js';
export * from './infer-config.js';
export * from './layers.js';
export * from './guidance.js';
export * from './tarflow.js';
export * from './sampling.js';
export * from './engine.js';
export * from './io.js';
