/**
 * Phase 5: the joint solve of all blocks (every block iterating at once, one
 * stacked evaluation per joint iteration). From one solve per initial guess
 * of the first block — the calibrated class-mean table (classMeanGuess) and
 * the plain guess its IGM prefers — find the least number of joint
 * iterations n from which on every count passes. Only counts below `upper`
 * are tried: more cannot beat the per-block plan.
 */
import type { GuessTable, InitialGuess, JointStrategy } from '@tarflow/solvers';
import type { CostModel } from '../cost.js';
import { classMeanGuess } from '../guess.js';
import type { Calibration } from './calibration.js';
import { compare, passes, type Quality } from './compare.js';
import type { PlanContext } from './context.js';

export interface JointResult {
  strategy: JointStrategy;
  guessTable?: GuessTable;
  quality: Quality;
}

/** The best joint strategy under `upper` iterations, or null. */
export function jointSearch(ctx: PlanContext, calib: Calibration, upper: number, cost?: CostModel): JointResult | null {
  const { model } = ctx;
  const first = calib.bySampling[0];
  const plain: InitialGuess = first.igm[1] < first.igm[0] ? 'zeros' : 'noise';
  const guesses = ctx.jointTable ? (['table', plain] as const) : ([plain] as const);
  // One joint solve of the calibration batch: `upper` stacked passes (timed at the plan's batch).
  const solveMs = cost?.jointPassMs !== undefined ? (upper * cost.jointPassMs * ctx.calibration) / ctx.batch : calib.exactMs;
  let table: GuessTable | undefined;
  let best: JointResult | null = null;
  for (const guess of guesses) {
    if (!ctx.budget.allows(solveMs * (guess === 'table' ? 2 : 1))) {
      ctx.progress(`skipping the joint solve with the ${guess} guess: ${ctx.budget.describe()}`);
      continue;
    }
    if (guess === 'table') {
      table = classMeanGuess(model, { perClass: ctx.guessPerClass, guidance: ctx.guidance, temperature: ctx.temperature, seed: ctx.seed + 1 });
    }
    ctx.progress(`joint solve, ${guess} guess: up to ${upper} joint iterations`);
    const trace: Quality[] = [];
    const r = model.sample(calib.noise, {
      labels: calib.labels,
      guidance: ctx.guidance,
      engine: ctx.engine,
      temperature: ctx.temperature,
      strategy: { kind: 'joint', maxIterations: upper, guess },
      ...(guess === 'table' ? { guessTable: table } : {}),
      onJointIteration: (_n, _res, images) => trace.push(compare(images(), calib.reference, ctx.batch)),
    });
    r.images.dispose();
    // The least n from which on every count of iterations passes.
    let n = trace.length;
    while (n >= 1 && passes(trace[n - 1], ctx.target)) n -= 1;
    n += 1;
    if (n <= trace.length && (!best || n < best.strategy.maxIterations)) {
      best = { strategy: { kind: 'joint', maxIterations: n, guess }, ...(guess === 'table' ? { guessTable: table } : {}), quality: trace[n - 1] };
    }
    ctx.progress(`joint solve, ${guess} guess: ${n <= trace.length ? `${n} joint iterations meet the target` : 'does not meet the target'}`);
  }
  return best;
}
