import type { BlockReport } from './solve.js';
import { formatStrategy, type Strategy } from './strategy.js';

/** The report of a whole multi-block solve. */
export interface SolveReport {
  /** Per block, in sampling order. */
  blocks: BlockReport[];
  /** Dependent network evaluations over all blocks (what a GPU turns into time). */
  depth: number;
  /** Depth of the exact sequential sampler on the same model: blocks × (T − 1). */
  sequentialDepth: number;
  fallbacks: number;
  wallMs: number;
  strategy: string;
}

/** Combines block reports into a model-level report. */
export function summarizeReports(blocks: BlockReport[], tokens: number, strategy: Strategy, wallMs: number): SolveReport {
  return {
    blocks,
    depth: blocks.reduce((s, b) => s + b.depth, 0),
    sequentialDepth: blocks.length * Math.max(0, tokens - 1),
    fallbacks: blocks.reduce((s, b) => s + b.fallbacks, 0),
    wallMs,
    strategy: formatStrategy(strategy),
  };
}
