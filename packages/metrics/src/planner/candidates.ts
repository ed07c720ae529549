/**
 * Phase 3: per-block candidates. For a tolerance ε (loosest first) try each
 * candidate solver on each block's exact input — plain Jacobi, and for tough
 * blocks (CRM share ≥ toughFactor × average) GS-Jacobi with G modules — and
 * measure its depth (dependent network evaluations) and, for the `time`
 * objective, its predicted wall time against the sequential loop. Keep the
 * best per block, run the whole strategy on the calibration batch, and
 * accept the loosest ε whose samples pass (compare.ts). Every Jacobi block
 * stops on its residual alone: its budget is the exact bound (a module of n
 * positions is exact after n iterations), not the count the calibration batch
 * needed, so a batch holding slower samples iterates until they have settled.
 */
import { moduleBounds, solveBlock, type BlockReport, type BlockStrategy, type InitialGuess, type JacobiStrategy, type Strategy } from '@tarflow/solvers';
import { passMs, sequentialBlockMs, type CostModel } from '../cost.js';
import type { BlockPlan } from '../planner.js';
import type { Calibration } from './calibration.js';
import { passes, type Quality } from './compare.js';
import type { PlanContext } from './context.js';

/** A per-block strategy that passed on the calibration batch (or the last one tried). */
export interface PerBlockResult extends Quality {
  strategy: Strategy;
  blocks: BlockPlan[];
  tolerance: number;
  /** The reports of its run on each calibration batch (sampling order): each module's iterations and residuals. */
  reports: BlockReport[][];
}

interface Candidate {
  strategy: BlockStrategy;
  depth: number;
  ms?: number;
  label: string;
}

export function jacobiLabel(s: JacobiStrategy): string {
  return s.modules === 1 ? `jacobi (${s.guess} guess)` : `gs-jacobi G=${s.modules} (${s.guess} guess)`;
}

/** Predicted ms of a Jacobi solve from its per-module iteration counts. */
export function predictJacobiMs(cost: CostModel, tokens: number, s: JacobiStrategy, iterations: number[]): number {
  const bounds = moduleBounds(tokens, s.modules);
  let ms = 0;
  let cached = 0;
  bounds.forEach(([a, b], m) => {
    for (let it = 1; it <= iterations[m]; it++) {
      const span = b - (it === 1 ? cached : a);
      ms += passMs(cost, Math.max(1, span));
    }
    cached = a;
  });
  return ms;
}

/** The best candidate of every block at tolerance `tol`. */
function chooseBlocks(ctx: PlanContext, calib: Calibration, tol: number, cost?: CostModel): { strategy: Strategy; blocks: BlockPlan[] } {
  const { model, tokens: T } = ctx;
  const avgShare = 1 / ctx.blocks;
  const blocks: BlockPlan[] = [];
  const strategy: Strategy = [];
  calib.bySampling.forEach((m, k) => {
    const guess: InitialGuess = m.igm[1] < m.igm[0] ? 'zeros' : 'noise';
    const tough = m.crmShare >= ctx.toughFactor * avgShare;
    const map = model.samplingMap(m.forwardIndex, calib.labels, ctx.guidance, ctx.engine);
    const candidates: Candidate[] = [];
    if (cost) candidates.push({ strategy: { kind: 'sequential' }, depth: T - 1, ms: sequentialBlockMs(cost, T), label: 'sequential' });
    // More modules than positions would be the same split as one module per position.
    for (const G of tough ? ctx.modules.filter((G) => G <= Math.max(1, T - 1)) : [1]) {
      const probe: JacobiStrategy = { kind: 'jacobi', modules: G, maxIterations: T, tolerance: tol, guess };
      const r = solveBlock(map, calib.inputs[k], probe);
      r.x.dispose();
      const iterations = r.report.modules.map((mm) => mm.iterations);
      const exact = Math.max(...moduleBounds(T, G).map(([a, b]) => b - a + 1));
      const s: JacobiStrategy = { kind: 'jacobi', modules: G, maxIterations: exact, tolerance: tol, guess };
      candidates.push({ strategy: s, depth: r.report.depth, ms: cost ? predictJacobiMs(cost, T, s, iterations) : undefined, label: jacobiLabel(s) });
    }
    const score = (c: Candidate) => (ctx.objective === 'time' ? c.ms! : c.depth);
    const best = candidates.reduce((a, c) => (score(c) < score(a) ? c : a));
    const why =
      `CRM share ${(m.crmShare * 100).toFixed(1)}%${tough ? ' (tough)' : ''}; IGM noise ${m.igm[0].toPrecision(3)} vs zeros ${m.igm[1].toPrecision(3)}; ` +
      candidates.map((c) => `${c.label}: depth ${c.depth}${c.ms !== undefined ? `, ~${c.ms.toFixed(1)} ms` : ''}`).join('; ');
    strategy.push(best.strategy);
    blocks.push({ samplingIndex: k, forwardIndex: m.forwardIndex, choice: best.label, reason: why, depth: best.depth, predictedMs: best.ms, crmShare: m.crmShare, tough, guess });
  });
  return { strategy, blocks };
}

/**
 * The loosest tolerance whose per-block strategy passes, or null when none
 * does (or the budget ran out first). Each tolerance costs trial solves of
 * every block and one end-to-end run: about two exact passes.
 */
export function perBlockSearch(ctx: PlanContext, calib: Calibration, cost?: CostModel): PerBlockResult | null {
  for (const tol of ctx.tolerances) {
    if (!ctx.budget.allows(2 * calib.exactMs)) {
      ctx.progress(`stopping before tolerance ${tol}: ${ctx.budget.describe()}`);
      return null;
    }
    ctx.progress(`trying tolerance ${tol}`);
    const { strategy, blocks } = chooseBlocks(ctx, calib, tol, cost);
    const e = calib.evaluate(strategy);
    blocks.forEach((b, k) => (b.depth = e.depths[k]));
    ctx.progress(`tolerance ${tol}: depth ${e.depth}, mean |Δ| ${e.mean.toExponential(2)}`);
    if (passes(e, ctx.target)) return { strategy, blocks, tolerance: tol, mean: e.mean, se: e.se, max: e.max, reports: e.reports };
  }
  return null;
}
