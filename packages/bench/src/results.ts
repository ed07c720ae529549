/**
 * What the benchmarks measure, as data: the rows and sections of
 * `tarflow bench`'s report (one BackendResult per backend) and of the GPU
 * benchmark (scripts/gpu-bench.sh). The renderers (render.ts, render-gpu.ts)
 * turn these into markdown; the JSON reports are these objects.
 */
import type { GuidanceSettings } from '@tarflow/model';
import type { GuessTable, SamplingStrategy } from '@tarflow/solvers';
import type { ToughestBlock } from '@tarflow/metrics';
import type { Profile } from './profiles.js';
import type { ReferenceSection } from './reference.js';

// ---------------------------------------------------------------- tarflow bench

/** One strategy of the side-by-side table. */
export interface SideBySideRow {
  name: string;
  strategy: string;
  wallMs: number;
  times: number[];
  depth: number;
  sequentialDepth: number;
  fallbacks: number;
  /** Wall-time speed-up over the sequential row, and depth reduction. */
  speedup: number;
  depthReduction: number;
  /** One dependent evaluation's wall time in sequential steps (see passCost). */
  passCost: number;
  meanAbsDiff: number;
  maxAbsDiff: number;
  fd?: number;
  /** Peak tfjs bytes during one run (model weights included), and process RSS high-water after the row. */
  tfPeakBytes: number;
  maxRssBytes: number;
  planMs?: number;
  /** Set when the strategy was planned by another backend's run (depth plans do not depend on the backend). */
  plannedOn?: string;
}

/** One row of a scaling table (batch size or sequence length). */
export interface ScalingRow {
  label: string;
  size: number;
  solver: string;
  wallMs: number;
  depth: number;
  sequentialDepth: number;
  speedup: number;
  depthReduction: number;
  passCost: number;
  meanAbsDiff: number;
}

/** One row of the memory check: a batch sampled in a fresh process. */
export interface MemoryRow {
  solver: string;
  batch: number;
  maxRssBytes: number;
  wallMs: number;
  depth: number;
  /** Peak RSS under MEMORY_LIMIT_BYTES. */
  ok: boolean;
  error?: string;
}

/** The memory check's bound on a process's peak RSS. */
export const MEMORY_LIMIT_BYTES = 2 ** 30;

/**
 * What the first backend's run measures that does not depend on the
 * backend — which block is toughest (CRM) and the planner's depth-objective
 * strategy — handed to the other backends' runs instead of being computed again.
 */
export interface SharedMeasurements {
  toughest: ToughestBlock & { calibration: string };
  /**
   * The planner's depth-objective plan; `guessTable` for a joint plan with the table guess; `batch`, the batch it
   * was made for (kept for that batch or more; absent in reports written before it was recorded).
   */
  depthPlan: { strategy: SamplingStrategy; guessTable?: GuessTable; planMs: number; batch?: number } | null;
  backend: string;
}

/** The model a backend's run measured, and how it sampled it. */
export interface BenchedModel {
  source: string;
  hash: string;
  description: string;
  tokens: number;
  blocks: number;
  conditional: boolean;
  guidance: GuidanceSettings | null;
  temperature: number;
}

/** Everything one backend's run measures: one section of the report. */
export interface BackendResult {
  backend: string;
  backendDetail: string;
  profile: Profile;
  model: BenchedModel;
  sideBySide: SideBySideRow[];
  shared: SharedMeasurements;
  fdReal?: { count: number; floor: number; reference: string };
  batchScaling: ScalingRow[];
  tokenScaling: ScalingRow[];
  memory: MemoryRow[];
  /** Wall time of each part of the run. */
  phases: Record<string, number>;
  totalMs: number;
}

/** The machine a report was measured on (its header line). */
export interface BenchEnvironment {
  cpu: string;
  cores: number;
  node: string;
  tfjs: string;
}

/** The whole report of `tarflow bench` (what its JSON holds). */
export interface BenchReport {
  started: string;
  loadavg: number[];
  /** Absent in reports written before it was recorded: renderers then use the machine at hand. */
  environment?: BenchEnvironment;
  results: BackendResult[];
  /** The comparison with the PyTorch references (`--reference`), or why it was skipped; absent in older reports. */
  reference?: ReferenceSection;
  /** Whole-process `sample --solver auto` against `--solver sequential` (planning-bench.ts); absent in older reports. */
  planning?: PlanningSection;
}

// ---------------------------------------------------------------- planning section

/** One kind of `tarflow sample` process in a cell of the planning section. */
export interface PlanningRun {
  wallS: number;
  strategy: string;
  /** Where auto's plan came from: planned (quick), kept, shipped. */
  source?: string;
  planningMs?: number;
  meanAbsDiff?: number;
  /** Wall time of every process of the cell, in the order run. */
  runsS?: number[];
}

/** One backend and batch of the planning section: the sequential sampler, auto with an empty cache, auto with the shipped plans. */
export interface PlanningRow {
  backend: string;
  batch: number;
  sequential: PlanningRun;
  empty: PlanningRun;
  shipped: PlanningRun;
  /** The machine's 1-minute load average when the row's first process started (the runs share the machine). */
  load?: number;
}

/** The planning section as measured: when, on how many cores, and its rows. */
export interface PlanningSection {
  measured: string;
  cores: number;
  rows: PlanningRow[];
}

// ---------------------------------------------------------------- GPU benchmark

/** What both GPU benchmark tables share: a strategy's timed runs against the sequential sampler. */
export interface TimedRow {
  name: string;
  /** The strategy as the solvers print it. */
  strategy: string;
  /** Dependent network evaluations per sample, and the sequential sampler's. */
  depth: number;
  sequentialDepth: number;
  timesMs: number[];
  medianMs: number;
  /** Sequential median / this median. */
  speedup: number | null;
  fallbacks: number;
}

/** One strategy's row; `name` as given (e.g. 'jacobi:8', '[0-4-8-8]'). */
export interface StrategyTiming extends TimedRow {
  /** Largest |image − sequential image|. */
  maxAbsDiffVsSequential: number | null;
}

/** The named strategies timed on one model. */
export interface ModelBench {
  model: string;
  config: Record<string, unknown>;
  tokens: number;
  blocks: number;
  batch: number;
  results: StrategyTiming[];
  /** Strategies not timed, with why. */
  skipped: Array<{ name: string; reason: string }>;
  /** The sampling engine that evaluated the maps ('fused' or 'plain', and why plain where fused was asked for). */
  engine?: string;
}

/** One planner row; `strategy` as formatStrategy(…, { compact: true }) prints it (e.g. `seq J2 J2 J2, tol 1`, `joint:19 (table guess)`). */
export interface PlannerRow extends TimedRow {
  /** Against the sequential samples of the timed batch (pixels in [−1, 1]). */
  meanAbsDiff: number;
  maxAbsDiff: number;
  /** Wall time of planning (planner rows). */
  planMs?: number;
  /** The planner's prediction for the plan: depth, ms, and its bound on the mean |Δ|. */
  predicted?: { depth: number; ms?: number; sequentialMs?: number; meanAbsDiffBound: number };
}

/** The sequential sampler against the planner's plans on one trained model. */
export interface PlannerBench {
  model: string;
  batch: number;
  fdBatch: number;
  guidance: number;
  temperature: number;
  rows: PlannerRow[];
  skipped: Array<{ name: string; reason: string }>;
}

/** One reference conformance case on the benchmarked backend. */
export interface ConformanceRow {
  fixture: string;
  case: string;
  ok: boolean;
  /** Largest |output − reference| over the case's outputs. */
  maxAbsError: number;
  /** The first output outside tolerance, if any. */
  failure?: string;
  ms: number;
}

/** The whole report of the GPU benchmark (results.json). */
export interface GpuBenchReport {
  status: 'ok' | 'no-adapter' | 'error';
  /** Why the run did not happen (status 'no-adapter' or 'error'). */
  reason?: string;
  backend: string;
  backendDetail: string;
  notes: string[];
  node: string;
  startedAt: string;
  wallS: number;
  options: { repeats: number; batch: number; strategies: string[]; seed: number; guidance: number; asyncReads: boolean; engine?: string };
  models: ModelBench[];
  /** Checkpoints that could not be benchmarked (not a TarFlow model, …), with why. */
  skippedModels: Array<{ model: string; reason: string }>;
  conformance: ConformanceRow[];
  /** The planner's plans against the sequential sampler, per trained model. */
  planner: PlannerBench[];
}
