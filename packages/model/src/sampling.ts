/**
 * Sampling a TarFlow: noise ε ~ N(0, I) becomes the latent
 *
 *     z = ε · √var · temperature
 *
 * (var the prior's variance), and the blocks are inverted in sampling order —
 * the last block first — each by the solver its strategy names (sequential,
 * Jacobi, GS-Jacobi), or all at once by a joint solve; the result is
 * unpatchified into images. Also what a caller sampling many images needs:
 * chunked sampling with bounded memory, memory-bounded denoising, labels
 * that cycle through the classes, and the settings a model file recommends.
 */
import { tf, assertPatchSeq, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import {
  guessFromTable,
  isJointStrategy,
  mergeReports,
  readScalar,
  runSync,
  sequentialStrategy,
  solveBlockSteps,
  solveChainSteps,
  summarizeReports,
  validateSamplingStrategy,
  type BlockReport,
  type GuessTable,
  type JointStrategy,
  type ReadSteps,
  type SamplingStrategy,
  type SolveOptions,
  type SolveReport,
} from '@tarflow/solvers';
import type { GuidanceSettings } from './guidance.js';
import { chooseEngine, type EngineChoice, type SamplingEngine } from './engine.js';
import type { TarFlow } from './tarflow.js';

export interface SampleOptions extends SolveOptions {
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  /**
   * One strategy per block in sampling order, or one joint solve of all blocks
   * (a JointStrategy); defaults to the exact sequential inverse everywhere.
   */
  strategy?: SamplingStrategy;
  /**
   * The calibrated first-block guesses a joint strategy with guess 'table'
   * starts from (@tarflow/metrics' classMeanGuess makes one).
   */
  guessTable?: GuessTable;
  /** Also return the image after each block (trace[0] is the unpatchified noise). */
  trace?: boolean;
  /** Called after each block with its index in sampling order and report. */
  onBlock?: (index: number, report: BlockReport) => void;
  /**
   * Joint strategies only: called after each joint iteration with its number,
   * each unfinished block's residual and a function giving the images the
   * current iterate makes — computed only if called, disposed after the hook
   * returns — so a progress display costs nothing and a study gets the quality
   * at every depth from one solve; and, the same way, each sample's residual
   * ([B]: the largest move of its iterate over the unfinished blocks, of which
   * a batch's residual is the largest), to see where any sub-batch would stop.
   */
  onJointIteration?: (iteration: number, residuals: number[], images: () => ImageBatch, sampleResiduals: () => tf.Tensor1D) => void;
  /**
   * Sampling temperature: the noise is scaled by it (on top of the prior's
   * √var) before the flow is inverted. 1 (the default) samples the model's
   * distribution; below 1 trades diversity for typical samples, as in Glow.
   */
  temperature?: number;
  /**
   * How each block's map is evaluated (engine.ts): 'auto' (the default) uses
   * @tarflow/kernels' fused kernels where the backend has them (cpu, wasm) and
   * the plain tfjs ops elsewhere; 'fused' asks for the kernels (falling back
   * to plain, with the reason in the report, where they do not run); 'plain'
   * always uses the plain ops.
   */
  engine?: SamplingEngine;
}

export interface SampleResult {
  images: ImageBatch;
  trace?: ImageBatch[];
  /** The solve's report, with the engine that evaluated the maps. */
  report: SolveReport & { engine: EngineChoice };
}

/** The latent a noise batch [B, T, D] stands for: noise × √priorVar × temperature (a new tensor). */
export function scaleNoise(model: TarFlow, noise: PatchSeq, temperature = 1): PatchSeq {
  return tf.tidy(() => tf.mul(tf.mul(noise, tf.sqrt(model.priorVar)), temperature)) as PatchSeq;
}

/**
 * Labels for `count` samples that cycle through `classes` — a number K
 * (0, 1, …, K − 1, 0, …) or a list of labels — starting `offset` places in.
 */
export function cycleLabels(count: number, classes: number | readonly number[], offset = 0): Int32Array {
  const list = typeof classes === 'number' ? null : classes;
  const K = list ? list.length : (classes as number);
  if (!(K > 0)) throw new Error('cycleLabels: no classes to cycle through');
  return Int32Array.from({ length: count }, (_, i) => (list ? list[(i + offset) % K] : (i + offset) % K));
}

/** Checks labels: shape [batch], int32, every value −1 or a class of the model (reads min and max). */
export function* labelSteps(model: TarFlow, labels: tf.Tensor1D | undefined, batch: number): ReadSteps<void> {
  if (!labels) return;
  if (labels.rank !== 1 || labels.shape[0] !== batch) {
    throw new Error(`labels: expected shape [${batch}], got [${labels.shape.join(', ')}]`);
  }
  if (labels.dtype !== 'int32') throw new Error(`labels: expected int32, got ${labels.dtype}`);
  const K = model.config.num_classes;
  const lo = yield* readScalar(tf.min(labels));
  const hi = yield* readScalar(tf.max(labels));
  const bad = lo < -1 ? lo : K === 0 && hi !== -1 ? hi : hi >= K && K > 0 ? hi : null;
  if (bad !== null) {
    throw new Error(
      K === 0
        ? `labels: this model is unconditional (num_classes 0); only -1 is allowed, got ${bad}`
        : `labels: unknown label ${bad} (this model has classes 0…${K - 1}; -1 means unconditional)`,
    );
  }
}

/** labelSteps, reading synchronously. */
export function checkLabels(model: TarFlow, labels: tf.Tensor1D | undefined, batch: number): void {
  runSync(labelSteps(model, labels, batch));
}

/**
 * The steps of sampling (TarFlow.sample / sampleAsync run them): yields each
 * scalar it reads (see @tarflow/solvers' runSync / runAsync).
 */
export function* sampleSteps(model: TarFlow, noise: PatchSeq, options: SampleOptions = {}): ReadSteps<SampleResult> {
  assertPatchSeq(noise, 'noise', null, model.tokens, model.patchDim);
  const temperature = options.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new Error(`temperature must be a positive number, got ${temperature}`);
  yield* labelSteps(model, options.labels, noise.shape[0]);
  const L = model.blocks.length;
  const strategy = validateSamplingStrategy(options.strategy ?? sequentialStrategy(L), L);
  const engine = chooseEngine(options.engine);
  if (isJointStrategy(strategy)) return yield* jointSampleSteps(model, noise, strategy, options, engine);
  const t0 = performance.now();
  const trace: ImageBatch[] = [];
  if (options.trace) trace.push(model.unpatchify(noise));
  let x = scaleNoise(model, noise, temperature);
  const reports: BlockReport[] = [];
  try {
    for (let k = 0; k < L; k++) {
      const index = L - 1 - k;
      const zp = model.permuteForBlock(index, x);
      let solved: { x: PatchSeq; report: BlockReport };
      try {
        solved = yield* solveBlockSteps(model.samplingMap(index, options.labels, options.guidance, engine.name), zp, strategy[k], options);
      } finally {
        zp.dispose();
      }
      const next = model.permuteForBlock(index, solved.x);
      solved.x.dispose();
      x.dispose();
      x = next;
      reports.push(solved.report);
      options.onBlock?.(k, solved.report);
      if (options.trace) trace.push(model.unpatchify(x));
    }
    yield* finiteSteps(x);
  } catch (e) {
    x.dispose();
    for (const t of trace) t.dispose();
    throw e;
  }
  const images = model.unpatchify(x);
  x.dispose();
  const report = { ...summarizeReports(reports, model.tokens, strategy, performance.now() - t0), engine };
  return options.trace ? { images, trace, report } : { images, report };
}

/** sampleSteps for a joint strategy: every block solved at once (solveChainSteps). */
function* jointSampleSteps(model: TarFlow, noise: PatchSeq, strategy: JointStrategy, options: SampleOptions, engine: EngineChoice): ReadSteps<SampleResult> {
  if (options.trace) throw new Error('trace: a joint strategy finishes all blocks together, so there is no per-block trace');
  const t0 = performance.now();
  const L = model.blocks.length;
  const table = options.guessTable;
  if (table && (table.tokens !== model.tokens || table.dim !== model.patchDim)) {
    throw new Error(`guessTable: the guess table is for [${table.tokens}, ${table.dim}] sequences but this model's are [${model.tokens}, ${model.patchDim}]`);
  }
  if (strategy.guess === 'table' && !table) {
    throw new Error("strategy: guess 'table' needs the guessTable option (make one with @tarflow/metrics' classMeanGuess)");
  }
  const toImages = (last: PatchSeq) => tf.tidy(() => model.unpatchify(model.permuteForBlock(0, last)));
  const chain = model.samplingChain(options.labels, options.guidance, engine.name);
  const z = tf.tidy(() => model.permuteForBlock(L - 1, scaleNoise(model, noise, options.temperature ?? 1)));
  const guess = strategy.guess === 'table' && table ? guessFromTable(table, z, options.labels) : undefined;
  let solved: { x: PatchSeq; report: SolveReport };
  try {
    const hook = options.onJointIteration;
    const onIteration = hook
      ? (n: number, residuals: number[], last: PatchSeq, sampleResiduals: () => tf.Tensor1D) => {
          const made: { images?: ImageBatch; moves?: tf.Tensor1D } = {};
          try {
            hook(
              n,
              residuals,
              () => (made.images ??= toImages(last)),
              () => (made.moves ??= sampleResiduals()),
            );
          } finally {
            made.images?.dispose();
            made.moves?.dispose();
          }
        }
      : undefined;
    solved = yield* solveChainSteps(chain, z, strategy, { guess, onIteration });
  } finally {
    chain.dispose();
    z.dispose();
    guess?.dispose();
  }
  try {
    yield* finiteSteps(solved.x);
  } catch (e) {
    solved.x.dispose();
    throw e;
  }
  const images = toImages(solved.x);
  solved.x.dispose();
  solved.report.blocks.forEach((b, k) => options.onBlock?.(k, b));
  return { images, report: { ...solved.report, wallMs: performance.now() - t0, engine } };
}

/** Throws when a sample holds NaN or ±Infinity (one read): a diverged solve or broken weights make no images. */
function* finiteSteps(x: PatchSeq): ReadSteps<void> {
  const bad = yield* readScalar(tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(x)), 'float32'))));
  if (bad > 0) {
    throw new Error(
      `sample: ${bad} of ${x.size} values are not finite (NaN or Infinity); the solve diverged or the model's weights are broken (try the sequential strategy, or check the model file)`,
    );
  }
}

// ---------------------------------------------------------------- many samples

/**
 * Samples per denoising step in denoiseInParts. The step's gradient keeps
 * every layer's activations, so it needs far more memory than sampling (a
 * batch of 64 from the default model peaks above 2 GiB in one step).
 */
export const DENOISE_BATCH = 8;

/**
 * TarFlow.denoise in parts of `part` samples, concatenated. The step acts on
 * each sample alone — its loss is a mean over the batch and its rate
 * noise_std² · numel(x) scales with the batch — so the parts give the same
 * images up to float rounding, with memory bounded by one part.
 */
export function denoiseInParts(model: TarFlow, images: ImageBatch, labels?: tf.Tensor1D, part = DENOISE_BATCH): ImageBatch {
  const B = images.shape[0];
  if (B <= part) return model.denoise(images, labels);
  const parts: ImageBatch[] = [];
  try {
    for (let a = 0; a < B; a += part) {
      const n = Math.min(part, B - a);
      const x = tf.slice(images, a, n) as ImageBatch;
      const l = labels ? (tf.slice(labels, a, n) as tf.Tensor1D) : undefined;
      try {
        parts.push(model.denoise(x, l));
      } finally {
        tf.dispose([x, ...(l ? [l] : [])]);
      }
    }
    return tf.concat(parts, 0) as ImageBatch;
  } finally {
    tf.dispose(parts);
  }
}

export interface ChunkedSampleOptions extends Omit<SampleOptions, 'labels' | 'onJointIteration'> {
  /** Samples per sampling call: memory is bounded by one chunk. */
  chunk: number;
  /** Labels of all `count` samples (none for an unconditional model). */
  labels?: Int32Array | null;
  /** Take one denoising step (in parts, see denoiseInParts) after sampling each chunk. */
  denoise?: boolean;
}

export interface ChunkedSampleResult {
  /** The images [count, C, H, W], flattened. */
  images: Float32Array;
  shape: [number, number, number, number];
  /** With `trace`: the images after each block [count · (blocks + 1), C, H, W], sample-major. */
  trace: Float32Array | null;
  /** Per chunk, and merged over chunks. */
  reports: SolveReport[];
  report: SolveReport;
  /** The engine that evaluated the maps (the same for every chunk). */
  engine: EngineChoice;
  wallMs: number;
}

/**
 * Samples `count` images `chunk` at a time, reading each chunk's images back
 * before the next, so that memory stays bounded however large `count` is.
 * `noise(start, end)` gives the noise [end − start, T, D] of samples
 * [start, end) (disposed here).
 */
export function sampleInChunks(model: TarFlow, count: number, noise: (start: number, end: number) => PatchSeq, options: ChunkedSampleOptions): ChunkedSampleResult {
  const { chunk, labels: allLabels, denoise, ...sampleOptions } = options;
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new Error(`chunk must be a positive integer, got ${chunk}`);
  if (allLabels && allLabels.length !== count) throw new Error(`labels: expected ${count} labels, got ${allLabels.length}`);
  const { in_channels: C, img_size: S } = model.config;
  const per = C * S * S;
  const steps = model.blocks.length + 1;
  const images = new Float32Array(count * per);
  const trace = options.trace ? new Float32Array(count * steps * per) : null;
  const reports: SolveReport[] = [];
  let engine = chooseEngine(options.engine);
  const t0 = performance.now();
  for (let a = 0; a < count; a += chunk) {
    const b = Math.min(count, a + chunk);
    const z = noise(a, b);
    const labels = allLabels ? tf.tensor1d(allLabels.subarray(a, b), 'int32') : undefined;
    try {
      const r = model.sample(z, { ...sampleOptions, labels });
      let out = r.images;
      if (denoise) {
        out = denoiseInParts(model, r.images, labels);
        r.images.dispose();
      }
      images.set(out.dataSync() as Float32Array, a * per);
      out.dispose();
      if (trace && r.trace) {
        r.trace.forEach((t, s) => {
          const data = t.dataSync() as Float32Array;
          for (let i = 0; i < b - a; i++) trace.set(data.subarray(i * per, (i + 1) * per), ((a + i) * steps + s) * per);
        });
        tf.dispose(r.trace);
      }
      reports.push(r.report);
      engine = r.report.engine;
    } finally {
      z.dispose();
      labels?.dispose();
    }
  }
  return { images, shape: [count, C, S, S], trace, reports, report: mergeReports(reports), engine, wallMs: performance.now() - t0 };
}

// ---------------------------------------------------------------- recommended settings

/** How a model is meant to be sampled (recorded in its file's `sampling` metadata). */
export interface RecommendedSampling {
  guidance?: GuidanceSettings;
  temperature?: number;
  /** Take one score-based denoising step after sampling. */
  denoise?: boolean;
}

/** Checks recommended sampling settings (as parsed from JSON); throws an Error naming the problem. */
export function parseRecommendedSampling(value: unknown): RecommendedSampling {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const only = (o: Record<string, unknown>, keys: string[], what: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw new Error(`${what}: unknown key ${JSON.stringify(k)} (expected ${keys.join(', ')})`);
  };
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!isObject(value)) throw new Error('sampling settings must be an object');
  only(value, ['guidance', 'temperature', 'denoise'], 'sampling settings');
  const out: RecommendedSampling = {};
  if (value.guidance !== undefined) {
    const g = value.guidance;
    if (!isObject(g)) throw new Error('guidance must be an object');
    only(g, ['scale', 'on', 'annealed', 'attnTemp'], 'guidance');
    if (!(typeof g.scale === 'number' && Number.isFinite(g.scale) && g.scale >= 0)) throw new Error(`guidance.scale must be a number >= 0, got ${JSON.stringify(g.scale)}`);
    if (g.on !== undefined && g.on !== 'alpha' && g.on !== 'gamma' && g.on !== 'both') throw new Error(`guidance.on must be 'alpha', 'gamma' or 'both', got ${JSON.stringify(g.on)}`);
    if (g.annealed !== undefined && typeof g.annealed !== 'boolean') throw new Error('guidance.annealed must be true or false');
    if (g.attnTemp !== undefined && !positive(g.attnTemp)) throw new Error(`guidance.attnTemp must be a positive number, got ${JSON.stringify(g.attnTemp)}`);
    out.guidance = { ...(g as unknown as GuidanceSettings) };
  }
  if (value.temperature !== undefined) {
    if (!positive(value.temperature)) throw new Error(`temperature must be a positive number, got ${JSON.stringify(value.temperature)}`);
    out.temperature = value.temperature as number;
  }
  if (value.denoise !== undefined) {
    if (typeof value.denoise !== 'boolean') throw new Error('denoise must be true or false');
    out.denoise = value.denoise;
  }
  return out;
}
