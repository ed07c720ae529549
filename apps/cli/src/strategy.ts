/**
 * The solver flags of `sample` (and `bench`) turned into a per-block strategy:
 * --strategy text wins; otherwise --solver names one: sequential, jacobi,
 * gs-jacobi (with --modules / --iterations) or auto (the planner).
 */
import type { GuidanceSettings, TarFlow } from '@tarflow/model';
import { parseStrategy, formatStrategy, type InitialGuess, type JacobiStrategy, type Strategy } from '@tarflow/solvers';
import { planStrategy, type Objective, type Plan } from '@tarflow/metrics';
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
  guess?: InitialGuess;
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
  strategy: Strategy;
  text: string;
  /** The planner's plan, for --solver auto. */
  plan?: Plan;
}

/** Applies --tolerance / --guess to every Jacobi block. */
function withExtras(strategy: Strategy, flags: SolverFlags): Strategy {
  return strategy.map((b) =>
    b.kind === 'jacobi'
      ? { ...b, ...(flags.tolerance !== undefined ? { tolerance: flags.tolerance } : {}), ...(flags.guess ? { guess: flags.guess } : {}) }
      : b,
  );
}

export function resolveStrategy(model: TarFlow, flags: SolverFlags, plan?: PlanContext): ResolvedStrategy {
  const n = model.blocks.length;
  const T = model.tokens;
  if (flags.strategy !== undefined) {
    let s: Strategy;
    try {
      s = parseStrategy(flags.strategy, n, T);
    } catch (e) {
      throw new UsageError(`--strategy: ${messageOf(e)}`);
    }
    s = withExtras(s, flags);
    return { strategy: s, text: formatStrategy(s) };
  }
  const solver = flags.solver ?? 'sequential';
  if ((flags.modules !== undefined || flags.iterations !== undefined) && solver !== 'jacobi' && solver !== 'gs-jacobi') {
    throw new UsageError(`--modules and --iterations apply to --solver jacobi or gs-jacobi, not ${solver}`);
  }
  if (solver === 'jacobi' && flags.modules !== undefined && flags.modules !== 1) {
    throw new UsageError('--solver jacobi is one module per block; use --solver gs-jacobi for --modules > 1');
  }
  let s: Strategy;
  if (solver === 'sequential') {
    s = Array.from({ length: n }, () => ({ kind: 'sequential' as const }));
  } else if (solver === 'jacobi' || solver === 'gs-jacobi') {
    const modules = solver === 'jacobi' ? 1 : (flags.modules ?? DEFAULT_MODULES);
    // Default budget: the module size, with which Jacobi is exact even without converging early.
    const size = Math.ceil(Math.max(1, T - 1) / modules);
    const block: JacobiStrategy = {
      kind: 'jacobi',
      modules,
      maxIterations: flags.iterations ?? size,
      tolerance: flags.tolerance ?? DEFAULT_TOLERANCE,
      ...(flags.guess ? { guess: flags.guess } : {}),
    };
    s = Array.from({ length: n }, () => ({ ...block }));
  } else {
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
    s = withExtras(p.strategy, flags);
    return { strategy: s, text: formatStrategy(s), plan: p };
  }
  return { strategy: s, text: formatStrategy(s) };
}
