/**
 * Phase 7 (objective `time`, on the backend the cost model was timed on):
 * confirmation. The cost model predicts a plan's time from single passes
 * timed one after another; a load on the machine that comes or goes between
 * those timings makes the prediction wrong (a sequential loop timed while busy
 * loses to Jacobi passes timed while idle). So before a plan that is not the
 * sequential sampler is returned, it and the sequential sampler run end to
 * end on the same calibration batch, interleaved — sequential, plan, plan,
 * sequential, … — so that a load falls on both alike, and
 *
 *   keep the plan  ⇔  median(plan ms per batch) < median(sequential ms per batch)
 *
 * otherwise the plan is the sequential sampler. Each round costs one batch of
 * each; planning under a budget confirms only while the budget allows it.
 */
import { formatStrategy, isSequentialStrategy, sequentialStrategy, type GuessTable, type SamplingStrategy } from '@tarflow/solvers';
import { median, type CostModel } from '../cost.js';
import type { Plan } from '../planner.js';
import { sequentialPlan } from './assemble.js';
import type { Calibration } from './calibration.js';
import type { PlanContext } from './context.js';

/** Wall ms of one end-to-end run of a strategy on the confirmation batch. */
export type TimeRun = (strategy: SamplingStrategy, guessTable?: GuessTable) => number;

/**
 * The plan, confirmed by timing it against the sequential sampler; or the
 * sequential plan where it does not win. `timeRun` defaults to the wall clock
 * on the first calibration batch (tests pass their own).
 */
export function confirmPlan(ctx: PlanContext, calib: Calibration, plan: Plan, cost: CostModel | undefined, timeRun?: TimeRun): Plan {
  // Only a cost model timed here predicts this machine, and only a plan that is not already sequential needs it.
  if (ctx.objective !== 'time' || !cost || ctx.cost || ctx.confirmRounds < 1 || isSequentialStrategy(plan.strategy)) return plan;
  const batch = calib.batches[0];
  // One batch of each per round, at about the calibration's exact speed (the plan is predicted faster).
  const perRoundMs = (2 * calib.exactMs * batch.noise.shape[0]) / calib.noise.shape[0];
  if (!ctx.budget.allows(ctx.confirmRounds * perRoundMs)) {
    return { ...plan, reasons: [...plan.reasons.slice(0, -1), `not confirmed by timing (the budget does not allow it)`, ctx.budget.describe()] };
  }
  ctx.progress(`confirming: the plan against the sequential sampler, ${ctx.confirmRounds} interleaved round${ctx.confirmRounds === 1 ? '' : 's'}`);
  const wallTime: TimeRun = (strategy, guessTable) => {
    const t0 = performance.now();
    const r = calib.sample(batch, strategy, guessTable);
    r.images.dataSync(); // finish the run before reading the clock
    const ms = performance.now() - t0;
    r.images.dispose();
    return ms;
  };
  const run = timeRun ?? wallTime;
  const seq = sequentialStrategy(ctx.blocks);
  const seqTimes: number[] = [];
  const planTimes: number[] = [];
  // Rounds in ABBA order (sequential first, then the plan first, …), so a load that rises or falls steadily favours neither.
  for (let i = 0; i < ctx.confirmRounds; i++) {
    const runSeq = () => seqTimes.push(run(seq));
    const runPlan = () => planTimes.push(run(plan.strategy, plan.guessTable));
    const order = i % 2 === 0 ? [runSeq, runPlan] : [runPlan, runSeq];
    for (const f of order) f();
  }
  const measured = { plan: plan.text, ms: median(planTimes), sequentialMs: median(seqTimes), rounds: ctx.confirmRounds, batch: batch.noise.shape[0] };
  const name = formatStrategy(plan.strategy, { compact: true });
  const line =
    `timed end to end on a batch of ${measured.batch}, interleaved with the sequential sampler (median of ${measured.rounds}): ` +
    `${measured.ms.toFixed(1)} ms against ${measured.sequentialMs.toFixed(1)} ms`;
  if (measured.ms < measured.sequentialMs) {
    return { ...plan, measured, reasons: [...plan.reasons.slice(0, -1), `${name}: ${line} (${(measured.sequentialMs / measured.ms).toFixed(2)}×)`, ctx.budget.describe()], planningMs: ctx.budget.spentMs() };
  }
  const reason = `the planned ${name} (predicted ${plan.predicted.ms?.toFixed(1)} ms per batch against ${plan.predicted.sequentialMs?.toFixed(1)} ms) ${line}: sequential is faster here`;
  return { ...sequentialPlan(ctx, reason, { cost, metrics: calib.metrics, complete: true }), measured };
}
