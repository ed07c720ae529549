import type { BlockReport } from './solve.js';
import { formatStrategy, type Strategy } from './strategy.js';

/**
 * A module that stopped at its iteration budget with its last residual above
 * its tolerance: its values are not the exact inverse, and by how much the
 * last iteration still moved them says how far off they may be. (A module of
 * n positions is exact after n iterations whatever its residual, and a module
 * the divergence guard re-solved is exact: neither is listed.)
 */
export interface UnconvergedModule {
  /** Block, in sampling order, and module within it (0-based). */
  block: number;
  module: number;
  /** Positions the module solves (inclusive). */
  start: number;
  end: number;
  iterations: number;
  /** The last residual max|x_new − x_old|, and the tolerance it should have reached. */
  residual: number;
  tolerance: number;
}

/** The report of a whole multi-block solve. */
export interface SolveReport {
  /** Per block, in sampling order. */
  blocks: BlockReport[];
  /** Dependent network evaluations over all blocks (what a GPU turns into time). */
  depth: number;
  /** Depth of the exact sequential sampler on the same model: blocks × (T − 1). */
  sequentialDepth: number;
  fallbacks: number;
  /** Modules that stopped at their budget above their tolerance (empty when every module converged or is exact). */
  unconverged: UnconvergedModule[];
  wallMs: number;
  strategy: string;
  /**
   * Set for a joint solve over all blocks: its depth is the number of joint
   * iterations (the blocks of one iteration are independent), not the sum of
   * the blocks' iteration counts.
   */
  joint?: { iterations: number };
}

/**
 * The modules of `blocks` (sampling order) that stopped at their iteration
 * budget above their tolerance. For a joint solve (`joint` set), the blocks
 * still iterating when the joint budget ran out with a residual above the
 * tolerance: a block frozen earlier had converged or was exact.
 */
export function findUnconverged(blocks: BlockReport[], joint?: { iterations: number }): UnconvergedModule[] {
  const out: UnconvergedModule[] = [];
  blocks.forEach((b, k) => {
    const s = b.strategy;
    if (s.kind !== 'jacobi' || s.tolerance === undefined) return;
    const tolerance = s.tolerance;
    b.modules.forEach((m, j) => {
      const residual = m.residuals[m.residuals.length - 1];
      if (m.fallback || residual === undefined || !(residual > tolerance)) return;
      const atBudget = joint ? m.iterations === joint.iterations && joint.iterations >= s.maxIterations : m.iterations >= s.maxIterations && m.iterations < m.end - m.start + 1;
      if (atBudget) out.push({ block: k, module: j, start: m.start, end: m.end, iterations: m.iterations, residual, tolerance });
    });
  });
  return out;
}

/** Combines block reports into a model-level report. */
export function summarizeReports(blocks: BlockReport[], tokens: number, strategy: Strategy, wallMs: number): SolveReport {
  return {
    blocks,
    depth: blocks.reduce((s, b) => s + b.depth, 0),
    sequentialDepth: blocks.length * Math.max(0, tokens - 1),
    fallbacks: blocks.reduce((s, b) => s + b.fallbacks, 0),
    unconverged: findUnconverged(blocks),
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
  const joint = first.joint ? { iterations: Math.max(...reports.map((r) => r.joint?.iterations ?? 0)) } : undefined;
  return {
    blocks,
    depth: first.joint ? Math.max(...reports.map((r) => r.depth)) : blocks.reduce((s, b) => s + b.depth, 0),
    sequentialDepth: first.sequentialDepth,
    ...(joint ? { joint } : {}),
    fallbacks: blocks.reduce((s, b) => s + b.fallbacks, 0),
    unconverged: mergeUnconverged(reports),
    wallMs: reports.reduce((s, r) => s + r.wallMs, 0),
    strategy: first.strategy,
  };
}

/** The unconverged modules of several chunks: per block and module, the chunk with the largest residual. */
function mergeUnconverged(reports: SolveReport[]): UnconvergedModule[] {
  const worst = new Map<string, UnconvergedModule>();
  for (const r of reports) {
    for (const u of r.unconverged ?? []) {
      const key = `${u.block}/${u.module}`;
      const seen = worst.get(key);
      if (!seen || u.residual > seen.residual) worst.set(key, u);
    }
  }
  return [...worst.values()].sort((a, b) => a.block - b.block || a.module - b.module);
}
