/**
 * Phase 1 of the `time` objective: time the backend and ask the cost model
 * whether planning can pay off at all, before any sample is drawn.
 *
 *   lower bound per block   = min over G of Σ_modules pass(module size)   (one Jacobi iteration each)
 *   lower bound, joint      = one stacked pass over every block
 *   best case per batch     = min(blocks × per-block bound, joint bound)
 *   largest saving on job   = (blocks × sequential block − best case) × batches
 *
 * Sequential wins outright where the best case is no faster than the loop (a
 * CPU: a pass over n positions costs about n steps). Otherwise the largest
 * saving becomes the budget's limit, and planning stops here if the timing
 * alone already spent it.
 */
import { moduleBounds } from '@tarflow/solvers';
import { calibrateCost, passMs, quickCost, sequentialBlockMs, type CostModel } from '../cost.js';
import { cycledLabels, type PlanContext } from './context.js';

/** Times the backend for the block sizes the planner will consider (unless a cost model was given). */
export function timeBackend(ctx: PlanContext): CostModel {
  if (ctx.cost) return ctx.cost;
  ctx.progress('timing the backend');
  const T = ctx.tokens;
  // The cost model is timed on a batch of the plan's size, with as many labels.
  const labels = ctx.labels && ctx.labels.shape[0] !== ctx.batch ? cycledLabels(ctx.labels, ctx.batch) : ctx.labels;
  try {
    if (ctx.quickCost) {
      // A pass over an eighth of the block: cheap to time, and longer passes taken as proportional only overestimate them.
      return quickCost(ctx.model, { batch: ctx.batch, labels, guidance: ctx.guidance, engine: ctx.engine, positions: Math.ceil((T - 1) / 8) });
    }
    const sizes = new Set<number>([1, T - 1]);
    for (const G of ctx.modules) for (const [a, b] of moduleBounds(T, G)) sizes.add(b - a + 1).add(Math.min(T - 1, b - a + 2));
    return calibrateCost(ctx.model, { batch: ctx.batch, labels, guidance: ctx.guidance, engine: ctx.engine, sizes: [...sizes] });
  } finally {
    if (labels !== ctx.labels) labels?.dispose();
  }
}

/** Predicted ms per batch: the sequential loop over every block, and the best any iterative plan could do. */
export function costBounds(ctx: PlanContext, cost: CostModel): { sequentialMs: number; bestCaseMs: number } {
  const T = ctx.tokens;
  const perBlock = Math.min(...ctx.modules.map((G) => moduleBounds(T, G).reduce((sum, [a, b]) => sum + passMs(cost, b - a + 1), 0)));
  const joint = ctx.joint && cost.jointPassMs !== undefined ? cost.jointPassMs : Infinity;
  return { sequentialMs: ctx.blocks * sequentialBlockMs(cost, T), bestCaseMs: Math.min(ctx.blocks * perBlock, joint) };
}

/**
 * The cost precheck: why to plan sequential without calibrating (and whether
 * that holds beyond this job), or null
 * to go on. Sets the budget's limit to the largest saving on the job.
 */
export function costPrecheck(ctx: PlanContext, cost: CostModel): { reason: string; complete: boolean } | null {
  const { sequentialMs, bestCaseMs } = costBounds(ctx, cost);
  if (bestCaseMs >= sequentialMs) {
    const reason =
      `on ${cost.backend} even one Jacobi iteration per block (or one joint pass) costs at least ${bestCaseMs.toFixed(1)} ms per batch, ` +
      `the whole sequential loop ${sequentialMs.toFixed(1)} ms: sequential is fastest`;
    return { reason, complete: true };
  }
  ctx.budget.limitMs = ctx.budget.savingMs(sequentialMs, bestCaseMs);
  const estimate = planningEstimateMs(ctx, sequentialMs);
  if (!ctx.budget.allows(estimate)) {
    return {
      reason: `planning (~${(estimate / 1000).toFixed(1)} s more) would cost more than any plan can save on this job: ${ctx.budget.describe()}; sequential`,
      complete: false,
    };
  }
  return null;
}

/**
 * The predicted cost of the rest of the planning, in exact passes over the
 * calibration batch (each about sequentialMs × calibration / batch): one
 * exact pass, two per tolerance (trial solves and an end-to-end run), one per
 * trimming trial and one for the joint solve (two with the class-mean table).
 */
export function planningEstimateMs(ctx: PlanContext, sequentialMs: number): number {
  const pass = (sequentialMs * ctx.calibration) / ctx.batch;
  const trims = Number.isFinite(ctx.trimTrials) ? ctx.trimTrials : 2 * ctx.blocks;
  const joint = ctx.joint ? (ctx.jointTable ? 2 : 1) : 0;
  return pass * (1 + 2 * ctx.tolerances.length + trims + joint);
}
