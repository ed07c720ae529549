/**
 * One function from "how to sample" to a sampling strategy, for every front
 * end (the CLI's flags, the playground's settings): a strategy given as text
 * wins; otherwise a solver names one — sequential, jacobi, gs-jacobi (with
 * modules / iterations), joint (all blocks at once) or auto. For auto the plan
 * comes from, in turn: the plans shipped in the model file (used only where
 * the weights, backend, engine, objective and settings match and the batch is
 * in range), a plan store, or the planner — quick by default, budgeted by the
 * job — whose complete plans are kept in the store.
 */
import type { GuidanceSettings, SamplingEngine, TarFlow } from '@tarflow/model';
import type { tf } from '@tarflow/tensor';
import {
  formatStrategy,
  isJointStrategy,
  parseStrategy,
  sequentialStrategy,
  type GuessTable,
  type InitialGuess,
  type JacobiStrategy,
  type JointStrategy,
  type SamplingStrategy,
} from '@tarflow/solvers';
import { classMeanGuess } from './guess.js';
import { keepPlan, lookupPlan, modelFingerprint, planQuery, type PlanStore } from './plan-cache.js';
import { planStrategy, type Effort, type Objective, type Plan, type PlanOptions } from './planner.js';
import { findShippedPlan } from './shipped-plans.js';

export type SolverName = 'sequential' | 'jacobi' | 'gs-jacobi' | 'joint' | 'auto';

/** Residual tolerance of the jacobi / gs-jacobi / joint solvers when none is given. */
export const DEFAULT_TOLERANCE = 1e-4;
/** GS modules of the gs-jacobi solver when none is given. */
export const DEFAULT_MODULES = 4;

export interface StrategyRequest {
  /** Default: auto. */
  solver?: SolverName;
  objective?: Objective;
  /** Planner effort for auto (default quick). */
  effort?: Effort;
  /** Strategy text (parseStrategy); overrides the solver. */
  strategy?: string;
  tolerance?: number;
  modules?: number;
  iterations?: number;
  guess?: InitialGuess | 'table';
}

export interface StrategyContext {
  /** Samples per model call: the batch a plan is for. */
  batch: number;
  /** Samples the run draws (the planning budget's job); default: unbounded (plans kept for reuse). */
  samples?: number;
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  temperature?: number;
  /** The sampling run's engine (default auto); plans are found, made and kept for the engine it gives on this backend. */
  engine?: SamplingEngine;
  /** Seed of a table guess's calibration when no plan provides one. */
  seed?: number;
  /** The model file's metadata, for shipped plans. */
  metadata?: Record<string, string>;
  /** Where plans are looked up and kept. */
  store?: PlanStore;
  onProgress?: (message: string) => void;
}

export interface ResolvedStrategy {
  strategy: SamplingStrategy;
  /** The calibrated guess of a joint strategy with the table guess (pass it as SampleOptions.guessTable). */
  guessTable?: GuessTable;
  text: string;
  /** The plan, for auto. */
  plan?: Plan;
  /** Where the strategy came from. */
  source: 'given' | 'shipped' | 'kept' | 'planned';
  /** Why the shipped plans were passed over, where none was used (for the run's report). */
  notes: string[];
  /** Entries of the plan store or shipped plans that could not be read (worth telling the user at once). */
  warnings: string[];
}

/** A request that cannot be met; `message` starts with the option at fault. */
export class StrategyRequestError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'StrategyRequestError';
  }
}

/**
 * Applies the tolerance / guess overrides to every Jacobi block, or to the
 * joint solve; a joint solve with the table guess gets its table (the plan's,
 * else computed).
 */
function withExtras(s: SamplingStrategy, req: StrategyRequest, model: TarFlow, ctx: StrategyContext | undefined, from: Omit<ResolvedStrategy, 'strategy' | 'text'>): ResolvedStrategy {
  const tol = req.tolerance !== undefined ? { tolerance: req.tolerance } : {};
  const resolved = (strategy: SamplingStrategy, guessTable?: GuessTable): ResolvedStrategy => ({
    ...from,
    strategy,
    ...(guessTable ? { guessTable } : {}),
    text: formatStrategy(strategy),
  });
  if (isJointStrategy(s)) {
    const guess = req.guess ?? s.guess;
    const out: JointStrategy = { ...s, ...tol, ...(guess ? { guess } : {}) };
    if (guess !== 'table') return resolved(out);
    const table = from.guessTable ?? classMeanGuess(model, { guidance: ctx?.guidance, temperature: ctx?.temperature, seed: (ctx?.seed ?? 0) + 4321 });
    return resolved(out, table);
  }
  if (req.guess === 'table') throw new StrategyRequestError('guess', "guess table applies to the joint solve only (solver joint or strategy joint:N)");
  const guess = req.guess;
  return resolved(s.map((b) => (b.kind === 'jacobi' ? { ...b, ...tol, ...(guess ? { guess } : {}) } : b)));
}

/** The strategy a request names, planned (or found) for `context` where it says auto. */
export function resolveStrategy(model: TarFlow, request: StrategyRequest, context?: StrategyContext): ResolvedStrategy {
  const n = model.blocks.length;
  const T = model.tokens;
  const given = { source: 'given' as const, notes: [], warnings: [] };
  if (request.strategy !== undefined) {
    let s: SamplingStrategy;
    try {
      s = parseStrategy(request.strategy, n, T);
    } catch (e) {
      throw new StrategyRequestError('strategy', `strategy: ${(e as Error).message}`);
    }
    return withExtras(s, request, model, context, given);
  }
  const solver = request.solver ?? 'auto';
  if (request.modules !== undefined && solver !== 'jacobi' && solver !== 'gs-jacobi') {
    throw new StrategyRequestError('modules', `modules applies to solver jacobi or gs-jacobi, not ${solver}`);
  }
  if (request.iterations !== undefined && solver !== 'jacobi' && solver !== 'gs-jacobi' && solver !== 'joint') {
    throw new StrategyRequestError('iterations', `iterations applies to solver jacobi, gs-jacobi or joint, not ${solver}`);
  }
  if (solver === 'jacobi' && request.modules !== undefined && request.modules !== 1) {
    throw new StrategyRequestError('solver', 'solver jacobi is one module per block; use solver gs-jacobi for modules > 1');
  }
  if (solver === 'sequential') return withExtras(sequentialStrategy(n), request, model, context, given);
  if (solver === 'joint') {
    // Default budget: blocks × (T − 1) joint iterations, with which the joint solve is exact.
    const s: JointStrategy = { kind: 'joint', maxIterations: request.iterations ?? n * Math.max(1, T - 1), tolerance: request.tolerance ?? DEFAULT_TOLERANCE };
    return withExtras(s, request, model, context, given);
  }
  if (solver === 'jacobi' || solver === 'gs-jacobi') {
    const modules = solver === 'jacobi' ? 1 : (request.modules ?? DEFAULT_MODULES);
    if (request.modules !== undefined && modules > Math.max(1, T - 1)) {
      throw new StrategyRequestError('modules', `modules ${modules}: a block has only T − 1 = ${Math.max(1, T - 1)} positions to split (at most ${Math.max(1, T - 1)} modules)`);
    }
    // Default budget: the module size, with which Jacobi is exact even without converging early.
    const size = Math.ceil(Math.max(1, T - 1) / modules);
    const block: JacobiStrategy = { kind: 'jacobi', modules, maxIterations: request.iterations ?? size, tolerance: request.tolerance ?? DEFAULT_TOLERANCE };
    return withExtras(Array.from({ length: n }, () => ({ ...block })), request, model, context, given);
  }
  if (solver !== 'auto') throw new StrategyRequestError('solver', `solver ${String(solver)} is not one of sequential, jacobi, gs-jacobi, joint, auto`);
  if (!context) throw new StrategyRequestError('solver', 'solver auto needs the batch to plan for');
  const p = autoPlan(model, request, context);
  return withExtras(p.plan.strategy, request, model, context, { source: p.source, notes: p.notes, warnings: p.warnings, plan: p.plan, ...(p.plan.guessTable ? { guessTable: p.plan.guessTable } : {}) });
}

/** The plan of solver auto: shipped, kept or planned (see the module comment). */
function autoPlan(model: TarFlow, request: StrategyRequest, ctx: StrategyContext): { plan: Plan; source: 'shipped' | 'kept' | 'planned'; notes: string[]; warnings: string[] } {
  const options: PlanOptions = {
    objective: request.objective ?? 'time',
    effort: request.effort ?? 'quick',
    batch: ctx.batch,
    ...(ctx.samples !== undefined ? { samples: ctx.samples } : {}),
    labels: ctx.labels,
    guidance: ctx.guidance,
    temperature: ctx.temperature,
    ...(ctx.engine !== undefined ? { engine: ctx.engine } : {}),
    onProgress: ctx.onProgress,
  };
  const notes: string[] = [];
  const warnings: string[] = [];
  const query = planQuery(model, options, modelFingerprint(model));
  if (ctx.metadata) {
    const { found, ignored, broken } = findShippedPlan(ctx.metadata, query, model);
    warnings.push(...broken.map((why) => `shipped plans: ${why}: not used`));
    if (found) return { plan: found.plan, source: 'shipped', notes, warnings };
    notes.push(...ignored.map((why) => `shipped ${why}: not used`));
  }
  if (ctx.store) {
    // Kept plans for other backends or settings are normal; only unreadable entries are worth a warning.
    const { found, broken } = lookupPlan(ctx.store, query, model);
    warnings.push(...broken.map((why) => `plan cache: ${why}: ignored, and replaced when this plan is kept`));
    if (found) return { plan: found.plan, source: 'kept', notes, warnings };
  }
  const plan = planStrategy(model, options);
  if (ctx.store && plan.complete) keepPlan(ctx.store, plan, query);
  return { plan, source: 'planned', notes, warnings };
}
