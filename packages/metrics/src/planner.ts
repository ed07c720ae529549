/**
 * The strategy planner. The paper picks GS-Jacobi strategies by hand from
 * its metrics; here they are chosen automatically, in phases (./planner/):
 *
 * 1. Cost precheck (objective `time`): time the backend; if even one Jacobi
 *    iteration per block costs as much as the sequential loop, or the largest
 *    saving on the job (`samples`) is below what planning has cost, stop:
 *    sequential. That saving is the planning budget from here on.
 * 2. Calibration: solve a calibration batch exactly, block by block, and
 *    measure CRM and IGM. Each block starts from the initial guess with the
 *    lower IGM; blocks with a dominant CRM share ("tough") may be split.
 * 3. Per-block candidates: for a tolerance ε (loosest first) try each
 *    candidate solver on each block; keep the best for the objective; accept
 *    the loosest ε whose samples stay within the quality target for a batch
 *    of the planned size (calibration mean |Δ| plus two prediction errors).
 * 4. Trimming: loosen each block's tolerance to stop it sooner on the
 *    calibration batch while the target holds. Every solve of a plan stops
 *    on its residual, never after a count measured on the calibration batch,
 *    so batches with slower samples iterate until those have settled too.
 * 5. Joint search: the joint solve of all blocks, stopped by its residual
 *    (ε: its residual where the calibration batch first meets the target
 *    for good), kept where it beats 3–4.
 * 6. Assembling the plan, with the reasons and what planning cost.
 * 7. Confirmation (objective `time`, cost timed here): the plan and the
 *    sequential sampler timed end to end, interleaved; sequential unless the
 *    plan wins.
 *
 * Planning stops, sequential, wherever the next phase would take the planning
 * time past the largest saving on the job (objective `time`).
 */
import type { ImageBatch } from '@tarflow/tensor';
import type { tf } from '@tarflow/tensor';
import type { GuidanceSettings, SamplingEngine, TarFlow } from '@tarflow/model';
import type { GuessTable, InitialGuess, SamplingStrategy } from '@tarflow/solvers';
import type { ConvergenceMetrics } from './convergence.js';
import type { CostModel } from './cost.js';
import { calibrate } from './planner/calibration.js';
import { perBlockSearch } from './planner/candidates.js';
import { planContext } from './planner/context.js';
import { jointPlan, perBlockPlan, sequentialPlan } from './planner/assemble.js';
import { jointSearch } from './planner/joint.js';
import { confirmPlan } from './planner/confirm.js';
import { costBounds, costPrecheck, timeBackend } from './planner/precheck.js';
import { trimTolerances } from './planner/trim.js';

export { PLANNER_DEFAULTS, QUICK_PLANNER } from './planner/defaults.js';

export type Objective = 'time' | 'depth';
/** `quick`: a few seconds, for planning inside a sampling run; `thorough`: for plans that are kept. */
export type Effort = 'quick' | 'thorough';

export interface PlanOptions {
  objective?: Objective;
  /** How hard to search (default thorough; see QUICK_PLANNER). */
  effort?: Effort;
  /** Batch size the plan is for (and the calibration batch size). */
  batch?: number;
  /**
   * Samples that will be drawn with the plan (default: unbounded, a plan kept
   * for reuse). With objective `time`, planning never goes on past the
   * largest time the plan could save on them.
   */
  samples?: number;
  /** Labels, any number (cycled over the calibration samples and the batch the backend is timed on); default: classes in turn for a conditional model. */
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  /** The engine the plan is for (default auto: fused where the backend has it); every trial solve and the cost model use it. */
  engine?: SamplingEngine;
  /** Sampling temperature the plan is for (default 1; see TarFlow.sample). */
  temperature?: number;
  /** Images for CRM/IGM; default: the exact calibration samples themselves. */
  calibrationImages?: ImageBatch;
  /** Cost model for the `time` objective; timed on the current backend if absent. */
  cost?: CostModel;
  /**
   * Objective `time` with the cost model timed here: rounds of the end-to-end
   * confirmation, the plan against the sequential sampler interleaved (default
   * 3; quick: 0). A plan that does not win is replaced by the sequential sampler.
   */
  confirm?: number;
  seed?: number;
  targetMeanAbsDiff?: number;
  targetMaxAbsDiff?: number;
  /** Prediction errors added to the calibration mean |Δ| before comparing with the target (default 2). */
  confidence?: number;
  /** Calibration samples (default: 32 or the batch if larger; quick: 8); the acceptance bound allows for their number. */
  calibration?: number;
  tolerances?: number[];
  modules?: number[];
  toughFactor?: number;
  /** Trim per-block iteration budgets greedily while the quality target holds (default true). */
  trim?: boolean;
  /** Also consider the joint solve of all blocks (default true). */
  joint?: boolean;
  /** Calibration samples per class for the joint solve's class-mean guess (default 8). */
  guessPerClass?: number;
  onProgress?: (message: string) => void;
}

export interface BlockPlan {
  samplingIndex: number;
  forwardIndex: number;
  choice: string;
  reason: string;
  depth: number;
  predictedMs?: number;
  crmShare?: number;
  tough: boolean;
  guess: InitialGuess | 'table';
}

export interface Plan {
  objective: Objective;
  effort: Effort;
  /** Per-block strategies, or one joint solve of all blocks. */
  strategy: SamplingStrategy;
  /** The calibrated first-block guess a joint strategy with `guess: 'table'` samples with (SampleOptions.guessTable). */
  guessTable?: GuessTable;
  /** The strategy as text parseStrategy reads back (a table guess's values are not part of it). */
  text: string;
  /** The residual tolerance the plan accepted (per-block Jacobi, or the joint solve's stopping rule); null for sequential. */
  tolerance: number | null;
  /**
   * Batches the plan is valid for: every batch ≥ min (its acceptance bound
   * σ·√(1/n + 1/B) only shrinks as B grows).
   */
  batch: { min: number };
  blocks: BlockPlan[];
  predicted: {
    depth: number;
    sequentialDepth: number;
    ms?: number;
    sequentialMs?: number;
    /** Mean |Δ| of the plan against the exact sampler on the calibration batch. */
    meanAbsDiff: number;
    /** meanAbsDiff plus `confidence` prediction errors for a batch of the planned size: what the target is checked against. */
    meanAbsDiffBound: number;
    maxAbsDiff: number;
  };
  /** Why the plan is what it is, as a whole: the cost precheck, the planning budget. */
  reasons: string[];
  /**
   * The confirmation's end-to-end timing (objective `time`): the plan it timed
   * (`plan`, its text), its median ms per batch and the sequential sampler's,
   * over `rounds` interleaved rounds on a batch of `batch`. On a sequential
   * plan it records the plan that lost.
   */
  measured?: { plan: string; ms: number; sequentialMs: number; rounds: number; batch: number };
  /** False where planning stopped on its budget: the plan suits its job only and is not worth keeping. */
  complete: boolean;
  /** Milliseconds spent planning. */
  planningMs: number;
  /** The CRM/IGM the plan was made from (absent when the cost model alone decided). */
  metrics?: ConvergenceMetrics;
  cost?: CostModel;
}

/** Chooses a sampling strategy for the model; see the module comment for the method. */
export function planStrategy(model: TarFlow, options: PlanOptions = {}): Plan {
  const ctx = planContext(model, options);

  // 1. Cost precheck.
  let cost: CostModel | undefined;
  if (ctx.objective === 'time') {
    cost = timeBackend(ctx);
    const stop = costPrecheck(ctx, cost);
    if (stop) return sequentialPlan(ctx, stop.reason, { cost, complete: stop.complete });
  }

  // 2. Calibration.
  const calib = calibrate(ctx);
  try {
    // 3–4. Per-block candidates and trimming.
    const perBlock = perBlockSearch(ctx, calib, cost);
    if (perBlock && ctx.trimTrials > 0) trimTolerances(ctx, calib, perBlock, cost);
    const seqDepth = ctx.blocks * (ctx.tokens - 1);
    const seqMs = cost ? costBounds(ctx, cost).sequentialMs : undefined;
    const against = perBlock
      ? perBlockPlan(ctx, perBlock, calib.metrics, cost)
      : sequentialPlan(ctx, 'no iterative strategy met the quality target on the calibration batch', { cost, metrics: calib.metrics, complete: true });
    const depth = perBlock ? against.predicted.depth : seqDepth;
    const ms = perBlock ? against.predicted.ms : seqMs;

    // 5. Joint search: more joint iterations than `upper` cannot beat the per-block plan,
    // in depth or (objective time) in predicted time at the timed cost of one stacked pass.
    const byTime = ctx.objective === 'time' && cost?.jointPassMs && ms !== undefined ? Math.ceil(ms / cost.jointPassMs) : Infinity;
    // (A per-block plan's depth is a mean over the calibration batches, so it may be fractional.)
    const upper = Math.ceil(Math.min(depth, seqDepth, byTime)) - 1;
    if (ctx.joint && upper >= 1) {
      const j = jointSearch(ctx, calib, upper, cost);
      const jointMs = j && cost?.jointPassMs !== undefined ? j.depth * cost.jointPassMs : undefined;
      const wins = j && (ctx.objective === 'depth' ? j.depth < depth : jointMs !== undefined && ms !== undefined && jointMs < ms);
      // 6. Assembling.
      if (j && wins) return confirmPlan(ctx, calib, jointPlan(ctx, j, { depth, ms }, calib, cost), cost);
    }
    // A sequential fallback after the budget stopped the search suits this job only.
    const complete = perBlock !== null || !ctx.budget.stopped;
    const plan = { ...against, reasons: [...against.reasons.slice(0, -1), ctx.budget.describe()], complete, planningMs: ctx.budget.spentMs() };
    // 7. Confirmation.
    return confirmPlan(ctx, calib, plan, cost);
  } finally {
    calib.dispose();
  }
}
