/**
 * Phase 4: trimming. A tolerance safe for the toughest block makes the easy
 * ones iterate longer than they need, so each block's stopping point is cut
 * greedily — the deepest block first — to trimFactor of the iterations it
 * took on the calibration batch, or by one where the big cut fails, keeping
 * every cut whose end-to-end result still passes.
 *
 * A cut is made by loosening the block's tolerance, never by capping its
 * iterations: the new tolerance is the block's residual at the cut on the
 * calibration batches (the largest over its modules and the batches, rounded
 * up to two digits), so the calibration batches stop there while a batch with slower
 * samples iterates until they reach the same residual. (A cap measured on 32
 * calibration samples left unseen slow samples far from their exact images:
 * docs/planner.md.) Each trial is one run on the calibration batch;
 * `trimTrials` and the planning budget bound how many are made. A cut is kept
 * only where it saves depth: a looser tolerance that stops no solve of the
 * calibration batches sooner would only stop unseen ones sooner.
 */
import { type JacobiStrategy } from '@tarflow/solvers';
import type { CostModel } from '../cost.js';
import type { Calibration } from './calibration.js';
import { jacobiLabel, predictJacobiMs, type PerBlockResult } from './candidates.js';
import { passes } from './compare.js';
import type { PlanContext } from './context.js';
import { PLANNER_DEFAULTS } from './defaults.js';
import { roundUp } from './tolerance.js';

/** Depth per batch of a per-block result on the calibration batches. */
function depthOf(r: PerBlockResult): number {
  return r.blocks.reduce((a, b) => a + b.depth, 0);
}

/** Trims `accepted` in place. */
export function trimTolerances(ctx: PlanContext, calib: Calibration, accepted: PerBlockResult, cost?: CostModel): void {
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
      // Per calibration batch, the block's modules as they ran.
      const runs = accepted.reports.map((blocks) => blocks[k].modules);
      const took = Math.max(...runs.flatMap((modules) => modules.map((m) => m.iterations)));
      const big = Math.min(took - 1, Math.floor(took * PLANNER_DEFAULTS.trimFactor));
      const to = !fine.has(k) ? big : took - 1;
      // The largest residual any module had after `to` iterations (one that stopped sooner had settled below
      // s.tolerance), rounded up so that the calibration batches stop there.
      const after = (m: { residuals: number[] }) => (m.residuals.length > to ? m.residuals[to - 1] : 0);
      const tolerance = to < 1 ? 0 : roundUp(Math.max(...runs.flatMap((modules) => modules.map(after))));
      if (!(tolerance > (s.tolerance ?? 0))) {
        // No looser tolerance stops it by `to` (its residual was no larger there): try the smaller cut, else leave it.
        if (!fine.has(k) && to < took - 1) fine.add(k);
        else frozen.add(k);
        cut = true;
        break;
      }
      const trial = accepted.strategy.map((b, i) => (i === k ? { ...s, tolerance } : b));
      const e = calib.evaluate(trial);
      trials += 1;
      // A cut must pay: a looser tolerance that saves no depth on the calibration batches only adds risk elsewhere.
      const ok = passes(e, ctx.target) && e.depth < depthOf(accepted);
      ctx.progress(`block ${k}: ${took} → ${to} iterations (tolerance ${s.tolerance} → ${tolerance}): depth ${+e.depth.toFixed(2)}, mean |Δ| ${e.mean.toExponential(2)}${ok ? '' : ' (not kept)'}`);
      if (!ok && !fine.has(k) && to < took - 1) {
        fine.add(k); // try the smaller cut before giving up on this block
        cut = true;
        break;
      }
      if (ok) {
        accepted.strategy = trial;
        accepted.mean = e.mean;
        accepted.se = e.se;
        accepted.max = e.max;
        accepted.reports = e.reports;
        accepted.blocks.forEach((b, i) => (b.depth = e.depths[i]));
        const blk = accepted.blocks[k];
        const t = trial[k] as JacobiStrategy;
        blk.choice = `${jacobiLabel(t)}, tolerance ${tolerance}`;
        if (cost) blk.predictedMs = predictJacobiMs(cost, ctx.tokens, t, e.reports[0][k].modules.map((m) => m.iterations));
        cut = true;
        break;
      }
      frozen.add(k);
    }
    if (!cut) break;
  }
  accepted.blocks.forEach((b, k) => {
    const s = accepted.strategy[k];
    if (s.kind === 'jacobi' && s.tolerance !== accepted.tolerance) {
      b.reason += `; tolerance ${s.tolerance} after trimming (${b.depth} iteration(s) on the calibration batch)`;
    }
  });
}
