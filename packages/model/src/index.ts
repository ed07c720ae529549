/**
 * @tarflow/model — TarFlow in TypeScript on tfjs: forward, log-likelihood,
 * exact and iterative sampling through @tarflow/solvers, score-based
 * denoising, and safetensors checkpoints with the reference's tensor names.
 */
export * from './config.js';
export * from './layers.js';
export * from './tarflow.js';
export * from './io.js';
