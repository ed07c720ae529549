/**
 * Measuring a sampler: the median of timed runs, a strategy's runs on fixed
 * noise, what one dependent evaluation costs, the difference from the exact
 * samples, and memory (tfjs tensor bytes and the process's peak RSS).
 *
 *   passCost = (wall / depth) / (sequential wall / sequential depth)
 *
 * — the wall time of one dependent evaluation in sequential steps. A
 * strategy wins wall time exactly when its depth reduction exceeds it.
 */
import { tf, type ImageBatch } from '@tarflow/tensor';
import { cycleLabels as cycleClassLabels, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import type { GuessTable, SamplingStrategy } from '@tarflow/solvers';
import { median, sampleQuality } from '@tarflow/metrics';

/** The one median of the project's timings (it lives with the planner's cost model). */
export { median };

/** How the model is sampled in every run: guidance and temperature. */
export interface SamplingSettings {
  guidance?: GuidanceSettings;
  temperature?: number;
}

/** A strategy's timed runs and the images of the last. */
export interface TimedRuns {
  times: number[];
  images: ImageBatch;
  depth: number;
  sequentialDepth: number;
  fallbacks: number;
}

/** Runs `strategy` (with its guess table, for a joint plan's table guess) on fixed noise `runs` (≥ 1) times, keeping the last images (the caller disposes them). */
export function timeStrategy(
  model: TarFlow,
  noise: tf.Tensor3D,
  labels: tf.Tensor1D | undefined,
  strategy: SamplingStrategy,
  options: { runs: number; guessTable?: GuessTable } & SamplingSettings,
): TimedRuns {
  const times: number[] = [];
  let last: Omit<TimedRuns, 'times'> | null = null;
  for (let i = 0; i < options.runs; i++) {
    const t0 = performance.now();
    const r = model.sample(noise, { labels, strategy, guessTable: options.guessTable, guidance: options.guidance, temperature: options.temperature });
    r.images.dataSync();
    times.push(performance.now() - t0);
    last?.images.dispose();
    last = { images: r.images, depth: r.report.depth, sequentialDepth: r.report.sequentialDepth, fallbacks: r.report.fallbacks };
  }
  return { times, ...last! };
}

/**
 * The wall time of one dependent evaluation of a run in units of one
 * sequential step (a single-position evaluation) of the sequential run: for a
 * Jacobi strategy, what one parallel pass costs. A GPU brings it near 1; the
 * arithmetic of a pass over a whole block is that of T − 1 steps.
 */
export function passCost(wallMs: number, depth: number, seqWallMs: number, seqDepth: number): number {
  return wallMs / Math.max(1, depth) / (seqWallMs / Math.max(1, seqDepth));
}

/** Mean and max |a − b| of two image batches. */
export function meanMaxDiff(a: ImageBatch, b: ImageBatch): { mean: number; max: number } {
  const q = sampleQuality({ samples: a, reference: b });
  return { mean: q.meanAbsDiff!, max: q.maxAbsDiff! };
}

/** Labels 0, 1, …, K − 1, 0, … for n samples of a conditional model; undefined for an unconditional one. */
export function cycleLabels(model: TarFlow, n: number): tf.Tensor1D | undefined {
  const K = model.config.num_classes;
  return K > 0 ? tf.tensor1d(cycleClassLabels(n, K), 'int32') : undefined;
}

/** The process's resident-set high-water mark in bytes (Node; NaN elsewhere). */
export function peakRssBytes(): number {
  const usage = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process?.resourceUsage;
  return usage ? usage().maxRSS * 1024 : NaN;
}

/** The high-water mark of tfjs tensor bytes since the watch started or was last reset. */
export interface TensorBytesWatch {
  reset(): void;
  peak(): number;
  /** Stops watching (the engine's counter becomes a plain property again). */
  stop(): void;
}

/**
 * Watches the high-water mark of tfjs tensor bytes (what `tf.memory().numBytes`
 * counts, model weights included) over a span of work. `tf.profile` reports
 * the same figure but keeps a record of every kernel and fails on runs of
 * more than about 10⁵ kernels, which long sequential runs reach; this follows
 * the engine's byte counter through an accessor instead.
 */
export function watchTensorBytes(): TensorBytesWatch {
  const state = tf.engine().state as unknown as { numBytes: number };
  let current = state.numBytes;
  let peak = current;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (v: number) => {
      current = v;
      if (v > peak) peak = v;
    },
  });
  return {
    reset: () => {
      peak = current;
    },
    peak: () => peak,
    stop: () => {
      Object.defineProperty(state, 'numBytes', { configurable: true, enumerable: true, writable: true, value: current });
    },
  };
}
