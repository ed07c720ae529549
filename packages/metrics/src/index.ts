/**
 * @tarflow/metrics — convergence metrics (CRM, IGM), the strategy planner, and
 * sample-quality measures for TarFlow samplers.
 */
export * from './linalg.js';
export * from './convergence.js';
export * from './cost.js';
export * from './planner.js';
export * from './quality.js';
export * from './plan-cache.js';
export * from './shipped-plans.js';
export * from './resolve.js';
export * from './guess.js';
export * from './toughest.js';
export * from './fd-floor.js';
