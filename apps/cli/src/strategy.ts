/**
 * The solver flags of `sample` (and `bench`) turned into a sampling strategy
 * by @tarflow/metrics' resolveStrategy: --strategy text wins; otherwise
 * --solver names one: auto (the default: a shipped, cached or quick plan),
 * sequential, jacobi, gs-jacobi (with --modules / --iterations) or joint.
 * Plans are kept in the plan cache folder (--plan-cache, --no-plan-cache).
 */
import type { TarFlow } from '@tarflow/model';
import { DEFAULT_MODULES, DEFAULT_TOLERANCE, resolveStrategy, StrategyRequestError, type Effort, type Objective, type ResolvedStrategy, type StrategyContext } from '@tarflow/metrics';
import { defaultPlanDir, filePlanStore } from '@tarflow/metrics/node';
import type { InitialGuess } from '@tarflow/solvers';
import { UsageError } from './errors.js';
import { note } from './output.js';
import type { SolverName } from './constants.js';

export { DEFAULT_MODULES, DEFAULT_TOLERANCE, type ResolvedStrategy };

export interface SolverFlags {
  solver?: SolverName;
  objective?: Objective;
  strategy?: string;
  tolerance?: number;
  modules?: number;
  iterations?: number;
  guess?: InitialGuess | 'table';
}

export interface PlanCacheFlags {
  /** A folder, or false for --no-plan-cache (commander's negation). */
  planCache?: string | boolean;
}

/** The plan store of --plan-cache <dir> / --no-plan-cache (default: the platform cache folder); notes go to stderr. */
export function planStoreFrom(flags: PlanCacheFlags) {
  if (flags.planCache === false) return undefined;
  const dir = typeof flags.planCache === 'string' ? flags.planCache : defaultPlanDir();
  return filePlanStore(dir, { onNote: note });
}

/** The strategy of the flags; flag errors become usage errors naming the flag. */
export function resolveFromFlags(model: TarFlow, flags: SolverFlags, context?: StrategyContext, effort: Effort = 'quick'): ResolvedStrategy {
  try {
    return resolveStrategy(model, { ...flags, effort }, context);
  } catch (e) {
    if (e instanceof StrategyRequestError) throw new UsageError(`--${e.message}`);
    throw e;
  }
}
