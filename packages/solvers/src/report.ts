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
  /**
   * Set for a joint solve over all blocks: its depth is the number of joint
   * iterations (the blocks of one iteration are independent), not the sum of
   * the blocks' iteration counts.
   */
  joint?: { iterations: number };
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

/**
 * Combines the reports of several chunks (batches, shards) of one run: per block and module the
 * largest iteration count and depth (what the slowest chunk needed), summed
 * fallbacks, evaluated positions and wall time.
 */
export function mergeReports(reports: SolveReport[]): SolveReport {
  if (reports.length === 1) return reports[0];
  const first = reports[0];
  const blocks = first.blocks.map((b, k) => {
    const all = reports.map((r) => r.blocks[k]);
    return {
      ...b,
      modules: b.modules.map((_, j) => {
        const same = all.map((a) => a.modules[j]);
        const worst = same.reduce((x, y) => (y.iterations > x.iterations ? y : x));
        const fallback = same.find((x) => x.fallback)?.fallback;
        return { ...worst, depth: Math.max(...same.map((x) => x.depth)), ...(fallback ? { fallback } : {}) };
      }),
      depth: Math.max(...all.map((a) => a.depth)),
      positionsEvaluated: all.reduce((s, a) => s + a.positionsEvaluated, 0),
      fallbacks: all.reduce((s, a) => s + a.fallbacks, 0),
      wallMs: all.reduce((s, a) => s + a.wallMs, 0),
    };
  });
  return {
    blocks,
    depth: first.joint ? Math.max(...reports.map((r) => r.depth)) : blocks.reduce((s, b) => s + b.depth, 0),
    sequentialDepth: first.sequentialDepth,
    ...(first.joint ? { joint: { iterations: Math.max(...reports.map((r) => r.joint?.iterations ?? 0)) } } : {}),
    fallbacks: blocks.reduce((s, b) => s + b.fallbacks, 0),
    wallMs: reports.reduce((s, r) => s + r.wallMs, 0),
    strategy: first.strategy,
  };
}
