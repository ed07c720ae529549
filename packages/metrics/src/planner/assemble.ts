/**
 * Phase 6: assembling the plan — a per-block plan, a joint plan, or the
 * sequential sampler — with its predictions and reasons.
 */
import { formatStrategy, sequentialStrategy } from '@tarflow/solvers';
import { sequentialBlockMs, type CostModel } from '../cost.js';
import type { ConvergenceMetrics } from '../convergence.js';
import type { BlockPlan, Plan } from '../planner.js';
import type { PerBlockResult } from './candidates.js';
import type { PlanContext } from './context.js';
import type { JointResult } from './joint.js';

/** What every plan records about how it was made. */
function made(ctx: PlanContext, cost: CostModel | undefined, reasons: string[], complete: boolean) {
  return {
    objective: ctx.objective,
    effort: ctx.effort,
    batch: { min: ctx.batch },
    reasons: [...reasons, ctx.budget.describe()],
    complete,
    planningMs: ctx.budget.spentMs(),
    ...(cost ? { cost } : {}),
  };
}

function sequentialMs(ctx: PlanContext, cost?: CostModel): number | undefined {
  return cost ? ctx.blocks * sequentialBlockMs(cost, ctx.tokens) : undefined;
}

/**
 * The sequential sampler, for `reason`. `complete` is false where planning
 * stopped on its budget (the plan then suits this job only and is not kept).
 */
export function sequentialPlan(ctx: PlanContext, reason: string, options: { cost?: CostModel; metrics?: ConvergenceMetrics; complete: boolean }): Plan {
  const T = ctx.tokens;
  const strategy = sequentialStrategy(ctx.blocks);
  const seqMs = sequentialMs(ctx, options.cost);
  const shares = options.metrics ? [...options.metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex) : undefined;
  return {
    ...made(ctx, options.cost, [reason], options.complete),
    strategy,
    text: formatStrategy(strategy),
    tolerance: null,
    blocks: Array.from({ length: ctx.blocks }, (_, k) => ({
      samplingIndex: k,
      forwardIndex: ctx.blocks - 1 - k,
      choice: 'sequential',
      reason,
      depth: T - 1,
      ...(seqMs !== undefined ? { predictedMs: seqMs / ctx.blocks } : {}),
      ...(shares ? { crmShare: shares[k].crmShare } : {}),
      tough: false,
      guess: 'noise' as const,
    })),
    predicted: { depth: ctx.blocks * (T - 1), sequentialDepth: ctx.blocks * (T - 1), ms: seqMs, sequentialMs: seqMs, meanAbsDiff: 0, meanAbsDiffBound: 0, maxAbsDiff: 0 },
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
}

/** The per-block plan that passed. */
export function perBlockPlan(ctx: PlanContext, r: PerBlockResult, metrics: ConvergenceMetrics, cost: CostModel | undefined): Plan {
  const depth = r.blocks.reduce((s, b) => s + b.depth, 0);
  const ms = cost ? r.blocks.reduce((s, b) => s + (b.predictedMs ?? sequentialBlockMs(cost, ctx.tokens)), 0) : undefined;
  return {
    ...made(ctx, cost, [], true),
    strategy: r.strategy,
    text: formatStrategy(r.strategy),
    tolerance: r.tolerance,
    blocks: r.blocks,
    predicted: {
      depth,
      sequentialDepth: ctx.blocks * (ctx.tokens - 1),
      ms,
      sequentialMs: sequentialMs(ctx, cost),
      meanAbsDiff: r.mean,
      meanAbsDiffBound: r.mean + ctx.target.confidence * r.se,
      maxAbsDiff: r.max,
    },
    metrics,
  };
}

/** The joint plan, which beat `against` (the per-block plan's depth and ms). */
export function jointPlan(
  ctx: PlanContext,
  j: JointResult,
  against: { depth: number; ms?: number },
  calib: { bySampling: ConvergenceMetrics['blocks']; metrics: ConvergenceMetrics },
  cost: CostModel | undefined,
): Plan {
  const n = Math.round(10 * j.depth) / 10;
  const e = j.quality;
  const why =
    `joint solve of all blocks (one stacked evaluation per joint iteration) with the ${j.strategy.guess} guess, iterating until no block's ` +
    `iterate moves by more than ${j.strategy.tolerance}: ${n} joint iterations per calibration batch of ${ctx.batch} meet the target ` +
    `(mean |Δ| ${e.mean.toExponential(2)} ± ${e.se.toExponential(1)}, max ${e.max.toFixed(3)}; a batch with slower samples iterates longer, ` +
    `at most ${j.strategy.maxIterations}, the exact bound), against depth ${against.depth}${against.ms !== undefined ? ` (~${against.ms.toFixed(1)} ms)` : ''} solving block by block`;
  const avgShare = 1 / ctx.blocks;
  const blocks: BlockPlan[] = calib.bySampling.map((m, k) => ({
    samplingIndex: k,
    forwardIndex: m.forwardIndex,
    choice: 'joint',
    reason: why,
    depth: n,
    crmShare: m.crmShare,
    tough: m.crmShare >= ctx.toughFactor * avgShare,
    guess: k === 0 ? j.strategy.guess! : 'noise',
  }));
  return {
    ...made(ctx, cost, [], true),
    strategy: j.strategy,
    ...(j.guessTable ? { guessTable: j.guessTable } : {}),
    text: formatStrategy(j.strategy),
    tolerance: j.strategy.tolerance ?? null,
    blocks,
    predicted: {
      depth: n,
      sequentialDepth: ctx.blocks * (ctx.tokens - 1),
      ms: cost?.jointPassMs !== undefined ? n * cost.jointPassMs : undefined,
      sequentialMs: sequentialMs(ctx, cost),
      meanAbsDiff: e.mean,
      meanAbsDiffBound: e.mean + ctx.target.confidence * e.se,
      maxAbsDiff: e.max,
    },
    metrics: calib.metrics,
  };
}
