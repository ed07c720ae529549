/**
 * Phase 4: budget trimming. Cut per-block iteration budgets greedily — the
 * deepest block first — to trimFactor of the budget, or by one where the big
 * cut fails, keeping every cut whose end-to-end result still passes. Each
 * trial is one run on the calibration batch; `trimTrials` and the planning
 * budget bound how many are made.
 */
import { moduleBounds, type JacobiStrategy } from '@tarflow/solvers';
import type { CostModel } from '../cost.js';
import type { Calibration } from './calibration.js';
import { jacobiLabel, predictJacobiMs, type PerBlockResult } from './candidates.js';
import { passes } from './compare.js';
import type { PlanContext } from './context.js';
import { PLANNER_DEFAULTS } from './defaults.js';

/** Trims `accepted` in place. */
export function trimBudgets(ctx: PlanContext, calib: Calibration, accepted: PerBlockResult, cost?: CostModel): void {
  const frozen = new Set<number>();
  const fine = new Set<number>(); // blocks whose large cut failed: cut by one from now on
  let trials = 0;
  for (;;) {
    const order = accepted.blocks
      .map((b, k) => ({ k, depth: b.depth }))
      .filter(({ k }) => accepted.strategy[k].kind === 'jacobi' && !frozen.has(k))
      .sort((a, b) => b.depth - a.depth);
    let cut = false;
    for (const { k } of order) {
      if (trials >= ctx.trimTrials || !ctx.budget.allows(calib.exactMs)) break;
      const s = accepted.strategy[k] as JacobiStrategy;
      const big = Math.min(s.maxIterations - 1, Math.floor(s.maxIterations * PLANNER_DEFAULTS.trimFactor));
      const budget = !fine.has(k) ? big : s.maxIterations - 1;
      if (budget < 1) {
        frozen.add(k);
        continue;
      }
      const trial = accepted.strategy.map((b, i) => (i === k ? { ...s, maxIterations: budget } : b));
      const e = calib.evaluate(trial);
      trials += 1;
      ctx.progress(`block ${k}: budget ${s.maxIterations} → ${budget}: depth ${e.depth}, mean |Δ| ${e.mean.toExponential(2)}`);
      if (!passes(e, ctx.target) && !fine.has(k) && budget < s.maxIterations - 1) {
        fine.add(k); // try the smaller cut before giving up on this block
        cut = true;
        break;
      }
      if (passes(e, ctx.target)) {
        accepted.strategy = trial;
        accepted.mean = e.mean;
        accepted.se = e.se;
        accepted.max = e.max;
        accepted.blocks.forEach((b, i) => (b.depth = e.depths[i]));
        const blk = accepted.blocks[k];
        const t = trial[k] as JacobiStrategy;
        blk.choice = `${jacobiLabel(t)}, ≤${budget} iterations per module`;
        if (cost) blk.predictedMs = predictJacobiMs(cost, ctx.tokens, t, moduleBounds(ctx.tokens, t.modules).map(() => budget));
        cut = true;
        break;
      }
      frozen.add(k);
    }
    if (!cut) break;
  }
  for (const b of accepted.blocks) {
    const s = accepted.strategy[b.samplingIndex];
    if (s.kind === 'jacobi') b.reason += `; budget ${s.maxIterations} iteration(s) per module after trimming`;
  }
}
