/**
 * The planner's options resolved once, for every phase to read.
 */
import { tf } from '@tarflow/tensor';
import { chooseEngine, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import type { CostModel } from '../cost.js';
import type { Effort, Objective, PlanOptions } from '../planner.js';
import { PlanningBudget } from './budget.js';
import { PLANNER_DEFAULTS, QUICK_PLANNER } from './defaults.js';

export interface PlanContext {
  model: TarFlow;
  objective: Objective;
  effort: Effort;
  /** The batch the plan is for. */
  batch: number;
  /** Calibration samples. */
  calibration: number;
  tokens: number;
  blocks: number;
  target: { mean: number; max: number; confidence: number };
  tolerances: number[];
  modules: number[];
  toughFactor: number;
  /** End-to-end trials the trimming may spend (0: no trimming). */
  trimTrials: number;
  joint: boolean;
  jointTable: boolean;
  guessPerClass: number;
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  /** The engine every trial solve runs on (and the cost model is timed with). */
  engine: 'fused' | 'plain';
  temperature: number;
  seed: number;
  calibrationImages?: PlanOptions['calibrationImages'];
  /** Time the backend with quickCost (five evaluations) instead of calibrateCost. */
  quickCost: boolean;
  /** The cost model the caller gave (it may describe another machine: no confirmation by timing here). */
  cost?: CostModel;
  /** Interleaved rounds of the end-to-end confirmation (objective time; 0: none). */
  confirmRounds: number;
  budget: PlanningBudget;
  progress: (message: string) => void;
}

/** `labels` cycled (or cut) to `n` entries — the planner takes labels of any length (a new tensor). */
export function cycledLabels(labels: tf.Tensor1D, n: number): tf.Tensor1D {
  return tf.tidy(() => tf.gather(labels, tf.tensor1d(Array.from({ length: n }, (_, i) => i % labels.shape[0]), 'int32'))) as tf.Tensor1D;
}

export function planContext(model: TarFlow, options: PlanOptions): PlanContext {
  const objective = options.objective ?? 'time';
  if (objective !== 'time' && objective !== 'depth') throw new Error(`unknown planner objective '${objective}' (expected 'time' or 'depth')`);
  const effort = options.effort ?? 'thorough';
  if (effort !== 'quick' && effort !== 'thorough') throw new Error(`unknown planner effort '${effort}' (expected 'quick' or 'thorough')`);
  const quick = effort === 'quick';
  const batch = options.batch ?? PLANNER_DEFAULTS.batch;
  const samples = options.samples ?? Infinity;
  if (!(samples >= 1)) throw new Error(`planStrategy: samples must be at least 1, got ${samples}`);
  if (options.confirm !== undefined && !(Number.isInteger(options.confirm) && options.confirm >= 0)) {
    throw new Error(`planStrategy: confirm must be a whole number of rounds (0 or more), got ${options.confirm}`);
  }
  return {
    model,
    objective,
    effort,
    batch,
    calibration: options.calibration ?? (quick ? Math.min(QUICK_PLANNER.calibration, Math.max(2, batch)) : Math.max(PLANNER_DEFAULTS.calibration, batch)),
    tokens: model.tokens,
    blocks: model.blocks.length,
    target: {
      mean: options.targetMeanAbsDiff ?? PLANNER_DEFAULTS.targetMeanAbsDiff,
      max: options.targetMaxAbsDiff ?? PLANNER_DEFAULTS.targetMaxAbsDiff,
      confidence: options.confidence ?? PLANNER_DEFAULTS.confidence,
    },
    tolerances: options.tolerances ?? (quick ? QUICK_PLANNER.tolerances : PLANNER_DEFAULTS.tolerances),
    modules: options.modules ?? (quick ? QUICK_PLANNER.modules : PLANNER_DEFAULTS.modules),
    toughFactor: options.toughFactor ?? PLANNER_DEFAULTS.toughFactor,
    trimTrials: (options.trim ?? true) ? (quick ? QUICK_PLANNER.trimTrials : Infinity) : 0,
    joint: options.joint ?? true,
    jointTable: !quick || QUICK_PLANNER.jointTable,
    guessPerClass: options.guessPerClass ?? 8,
    labels: options.labels,
    guidance: options.guidance,
    engine: chooseEngine(options.engine).name,
    temperature: options.temperature ?? 1,
    seed: options.seed ?? 1234,
    calibrationImages: options.calibrationImages,
    quickCost: quick,
    cost: options.cost,
    confirmRounds: options.confirm ?? (quick ? QUICK_PLANNER.confirmRounds : PLANNER_DEFAULTS.confirmRounds),
    budget: new PlanningBudget(samples, batch),
    progress: options.onProgress ?? (() => {}),
  };
}
