/**
 * Messages between the page (main.ts) and the sampling worker (worker.ts).
 *
 * TarFlow.sample is synchronous, so it runs in a worker: the page stays
 * responsive and draws each block's progress (onBlock → postMessage) while
 * the worker computes. Everything here is structured-cloneable.
 */
import type { BackendPreference, BackendSelection } from '@tarflow/backends';
import type { ConvergenceMetrics, Plan } from '@tarflow/metrics';
import type { GuidanceSettings, RecommendedSampling, TarFlowConfig } from '@tarflow/model';
import type { BlockReport, SamplingStrategy, SolveReport } from '@tarflow/solvers';

export type BackendInfo = Pick<BackendSelection, 'name' | 'detail' | 'notes' | 'skipped' | 'reason'>;

export interface ModelInfo {
  name: string;
  bytes: number;
  config: TarFlowConfig;
  tokens: number;
  patchDim: number;
  parameters: number;
  metadata: Record<string, string>;
  /** How the model is meant to be sampled (its file's `sampling` metadata), or null. */
  recommended: RecommendedSampling | null;
}

/** The solver of a run: a strategy the page built or parsed, or the planner's choice. */
export type SolverSpec = { kind: 'strategy'; strategy: SamplingStrategy } | { kind: 'auto'; objective: 'depth' | 'time'; effort: 'quick' | 'thorough' };

export interface SampleSettings {
  batch: number;
  seed: number;
  /** One label per sample (-1: unconditional); null for an unconditional model. */
  labels: number[] | null;
  guidance: GuidanceSettings | null;
  /** Sampling temperature (scales the noise); 1 samples the model's own distribution. */
  temperature: number;
  denoise: boolean;
  solver: SolverSpec;
  trace: boolean;
}

/**
 * A plan as sent to the page (the strategy it chose is in the run's report), with where it came from:
 * shipped in the model file, kept from an earlier run or visit, or planned now; and kept entries that could not be used.
 */
export type PlanSummary = Pick<Plan, 'objective' | 'text' | 'tolerance' | 'blocks' | 'predicted'> & { source: 'shipped' | 'kept' | 'planned'; warnings: string[] };

export interface Images {
  data: Float32Array;
  /** [B, C, H, W] */
  shape: [number, number, number, number];
}

export interface SampleResult {
  images: Images;
  /** Whether `images` went through the denoising step. */
  denoised: boolean;
  report: SolveReport;
  plan?: PlanSummary;
  /** Trace steps (noise, then after each block), each [B, C, H, W]. */
  trace?: Images[];
}

export interface CompareResult {
  sequential: { images: Images; report: SolveReport };
  solver: { images: Images; report: SolveReport; plan?: PlanSummary };
  meanAbsDiff: number;
  maxAbsDiff: number;
}

export interface MetricsResult {
  metrics: ConvergenceMetrics;
  /** True when the exact samples of an earlier run with the same settings were reused. */
  reused: boolean;
  batch: number;
}

export type Request =
  | { type: 'backend'; preference: BackendPreference; wasmPaths: string }
  /** The plans kept in the page's storage (plan-store.ts), by plan-store key. */
  | { type: 'plans'; entries: Record<string, unknown> }
  | { type: 'load'; name: string; bytes: ArrayBuffer }
  | { type: 'sample'; settings: SampleSettings }
  | { type: 'compare'; settings: SampleSettings }
  | { type: 'metrics'; settings: SampleSettings };

export interface ResultOf {
  backend: BackendInfo;
  plans: number;
  load: ModelInfo;
  sample: SampleResult;
  compare: CompareResult;
  metrics: MetricsResult;
}

export interface Progress {
  /** What is running: 'plan', 'sample', 'sequential', 'denoise', 'metrics'. */
  phase: string;
  message: string;
  /** Blocks finished so far in this phase, and in all. */
  done?: number;
  total?: number;
  /** The block just finished. */
  block?: BlockReport;
}

export type Reply =
  | { id: number; kind: 'progress'; progress: Progress }
  | { id: number; kind: 'result'; result: unknown }
  | { id: number; kind: 'error'; name: string; message: string }
  /** A plan (or guess table) the worker kept, for the page's storage: JSON by plan-store key. */
  | { id: number; kind: 'store'; key: string; json: string };
