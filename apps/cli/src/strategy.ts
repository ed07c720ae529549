/**
 * The solver flags of `sample` (and `bench`) turned into a sampling strategy:
 * --strategy text wins; otherwise --solver names one: sequential, jacobi,
 * gs-jacobi (with --modules / --iterations), joint (all blocks at once, with
 * --iterations) or auto (the planner).
 */
import type { GuidanceSettings, TarFlow } from '@tarflow/model';
import {
  formatSamplingStrategy,
  isJointStrategy,
  parseSamplingStrategy,
  type InitialGuess,
  type JacobiStrategy,
  type JointStrategy,
  type SamplingStrategy,
} from '@tarflow/solvers';
import { classMeanGuess, planStrategy, type Objective, type Plan } from '@tarflow/metrics';
import { tf } from '@tarflow/tensor';
import { UsageError, messageOf } from './errors.js';

import type { SolverName } from './constants.js';

/** Residual tolerance of --solver jacobi / gs-jacobi when --tolerance is not given. */
export const DEFAULT_TOLERANCE = 1e-4;
/** GS modules of --solver gs-jacobi when --modules is not given. */
export const DEFAULT_MODULES = 4;

export interface SolverFlags {
  solver?: SolverName;
  objective?: Objective;
  strategy?: string;
  tolerance?: number;
  modules?: number;
  iterations?: number;
  guess?: InitialGuess | 'table';
}

export interface PlanContext {
  batch: number;
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  temperature?: number;
  seed?: number;
  onProgress?: (message: string) => void;
}

export interface ResolvedStrategy {
  strategy: SamplingStrategy;
  text: string;
  /** The planner's plan, for --solver auto. */
  plan?: Plan;
}

/** Applies --tolerance / --guess to every Jacobi block, or to the joint solve (computing the guess table). */
function withExtras(strategy: SamplingStrategy, flags: SolverFlags, model: TarFlow, plan?: PlanContext): SamplingStrategy {
  const tol = flags.tolerance !== undefined ? { tolerance: flags.tolerance } : {};
  if (isJointStrategy(strategy)) {
    const guess = flags.guess ?? strategy.guess;
    const out: JointStrategy = { ...strategy, ...tol, ...(guess ? { guess } : {}) };
    if (guess === 'table' && !out.table) {
      out.table = classMeanGuess(model, { guidance: plan?.guidance, temperature: plan?.temperature, seed: (plan?.seed ?? 0) + 4321 });
    }
    return out;
  }
  if (flags.guess === 'table') throw new UsageError("--guess table applies to the joint solve only (--solver joint or --strategy joint:N)");
  const guess = flags.guess;
  return strategy.map((b) => (b.kind === 'jacobi' ? { ...b, ...tol, ...(guess ? { guess } : {}) } : b));
}

export function resolveStrategy(model: TarFlow, flags: SolverFlags, plan?: PlanContext): ResolvedStrategy {
  const n = model.blocks.length;
  const T = model.tokens;
  const done = (s: SamplingStrategy, p?: Plan): ResolvedStrategy => ({ strategy: s, text: formatSamplingStrategy(s), ...(p ? { plan: p } : {}) });
  if (flags.strategy !== undefined) {
    let s: SamplingStrategy;
    try {
      s = parseSamplingStrategy(flags.strategy, n, T);
    } catch (e) {
      throw new UsageError(`--strategy: ${messageOf(e)}`);
    }
    return done(withExtras(s, flags, model, plan));
  }
  const solver = flags.solver ?? 'sequential';
  if (flags.modules !== undefined && solver !== 'jacobi' && solver !== 'gs-jacobi') {
    throw new UsageError(`--modules applies to --solver jacobi or gs-jacobi, not ${solver}`);
  }
  if (flags.iterations !== undefined && solver !== 'jacobi' && solver !== 'gs-jacobi' && solver !== 'joint') {
    throw new UsageError(`--iterations applies to --solver jacobi, gs-jacobi or joint, not ${solver}`);
  }
  if (solver === 'jacobi' && flags.modules !== undefined && flags.modules !== 1) {
    throw new UsageError('--solver jacobi is one module per block; use --solver gs-jacobi for --modules > 1');
  }
  if (solver === 'sequential') return done(withExtras(Array.from({ length: n }, () => ({ kind: 'sequential' as const })), flags, model, plan));
  if (solver === 'joint') {
    // Default budget: blocks × (T − 1) joint iterations, with which the joint solve is exact.
    const s: JointStrategy = { kind: 'joint', maxIterations: flags.iterations ?? n * Math.max(1, T - 1), tolerance: flags.tolerance ?? DEFAULT_TOLERANCE };
    return done(withExtras(s, flags, model, plan));
  }
  if (solver === 'jacobi' || solver === 'gs-jacobi') {
    const modules = solver === 'jacobi' ? 1 : (flags.modules ?? DEFAULT_MODULES);
    // Default budget: the module size, with which Jacobi is exact even without converging early.
    const size = Math.ceil(Math.max(1, T - 1) / modules);
    const block: JacobiStrategy = { kind: 'jacobi', modules, maxIterations: flags.iterations ?? size, tolerance: flags.tolerance ?? DEFAULT_TOLERANCE };
    return done(withExtras(Array.from({ length: n }, () => ({ ...block })), flags, model, plan));
  }
  if (!plan) throw new UsageError('--solver auto is not available here');
  const p = planStrategy(model, {
    objective: flags.objective ?? 'time',
    batch: plan.batch,
    labels: plan.labels,
    guidance: plan.guidance,
    temperature: plan.temperature,
    seed: plan.seed,
    onProgress: plan.onProgress,
  });
  return done(withExtras(p.strategy, flags, model, plan), p);
}

