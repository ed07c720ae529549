/**
 * `tarflow sample`: draws images from a model with the chosen solver and
 * writes a PNG grid or the raw tensor, a per-block trace, and the solve report.
 */
import { resolve } from 'node:path';
import { seededLabels, seededNoise, tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import type { GuidanceSettings, TarFlow } from '@tarflow/model';
import { isJointStrategy, mergeReports, REFERENCE_SEMANTICS, type SamplingStrategy, type SolveOptions, type SolveReport } from '@tarflow/solvers';
import { fnv1a32 } from '@tarflow/train';
import { DEFAULT_MODEL_SAMPLING } from '@tarflow/zoo';
import { checkLabelValues, outputKind, type LabelsSpec, type Shard } from '../args.js';
import { useBackend, type BackendChoice } from '../backend.js';
import { UsageError } from '../errors.js';
import { floatTensor, intTensor, readBytes, readSafetensors, writeGrid, writeSamples } from '../files.js';
import { formatReport, ms } from '../format.js';
import { describeModel, loadModelSource, type ModelSource } from '../model-source.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { resolveStrategy, type ResolvedStrategy, type SolverFlags } from '../strategy.js';
import { DEFAULT_BATCH } from '../constants.js';

/** Format tag of sample files written by `sample` and `merge`. */
export const SAMPLES_FORMAT = 'tarflow-samples';

export interface GuidanceFlags {
  guidance?: number;
  guide?: 'alpha' | 'gamma' | 'both';
  annealed?: boolean;
  attnTemp?: number;
  /** Sampling temperature (scales the noise). */
  temperature?: number;
}

export interface SampleFlags extends CommonFlags, SolverFlags, GuidanceFlags {
  checkpoint?: string;
  referenceSemantics?: boolean;
  divergenceGuard?: boolean;
  labels?: LabelsSpec;
  labelsFile?: string;
  denoise?: boolean;
  seed: number;
  batch?: number;
  chunk: number;
  backend: BackendChoice;
  out?: string;
  trace?: string;
  noise?: string;
  shard?: Shard;
  nrow?: number;
}


/**
 * Guidance settings from the flags; `defaults` (the default model's intended
 * settings) apply when no --guidance is given.
 */
export function guidanceFrom(flags: GuidanceFlags, defaults?: GuidanceSettings): GuidanceSettings | undefined {
  const scale = flags.guidance ?? defaults?.scale ?? 0;
  const given = flags.guide !== undefined || flags.annealed || flags.attnTemp !== undefined;
  if (!(scale > 0)) {
    if (given) throw new UsageError('--guide, --annealed and --attn-temp need a guidance scale: add --guidance <scale>');
    return undefined;
  }
  return {
    scale,
    on: flags.guide ?? defaults?.on ?? 'both',
    annealed: flags.annealed ?? defaults?.annealed ?? false,
    attnTemp: flags.attnTemp ?? defaults?.attnTemp ?? 1,
  };
}

/** The sample indices [start, end) of shard i/n of a run of `total` samples (contiguous ranges). */
export function shardRange(total: number, shard: Shard | undefined): { start: number; end: number } {
  if (!shard) return { start: 0, end: total };
  return { start: Math.floor(((shard.index - 1) * total) / shard.count), end: Math.floor((shard.index * total) / shard.count) };
}

interface Inputs {
  total: number;
  /** Noise rows of a --noise file, [total, T, D] flattened. */
  noise: Float32Array | null;
  noiseHash: string | null;
  /** Labels of all samples (null for an unconditional model without labels). */
  labels: Int32Array | null;
  labelsWhat: string;
}

async function readInputs(flags: SampleFlags, model: TarFlow): Promise<Inputs> {
  const T = model.tokens;
  const D = model.patchDim;
  const K = model.config.num_classes;
  // Without --batch, a list of several labels sets the run's size (one sample per label).
  const listed = flags.labels?.kind === 'list' && flags.labels.values.length > 1 ? flags.labels.values.length : undefined;
  let total = flags.batch ?? listed ?? DEFAULT_BATCH;
  let noise: Float32Array | null = null;
  let noiseHash: string | null = null;
  if (flags.noise !== undefined) {
    const bytes = await readBytes(flags.noise, '--noise file');
    const file = await readSafetensors(flags.noise, '--noise file');
    const t = floatTensor(file, 'noise', flags.noise, '--noise file', [null, T, D]);
    if (flags.batch !== undefined && flags.batch !== t.shape[0]) {
      throw new UsageError(`--batch ${flags.batch} disagrees with --noise ${flags.noise}, which holds ${t.shape[0]} samples`);
    }
    total = t.shape[0];
    noise = t.data;
    noiseHash = fnv1a32(bytes);
  }
  if (total < 1) throw new UsageError('the run has no samples');
  let labels: Int32Array | null = null;
  let labelsWhat: string;
  if (flags.labelsFile !== undefined) {
    if (flags.labels) throw new UsageError('give either --labels or --labels-file, not both');
    const bytes = await readBytes(flags.labelsFile, '--labels-file');
    const file = await readSafetensors(flags.labelsFile, '--labels-file');
    labels = intTensor(file, 'labels', flags.labelsFile, '--labels-file', [total]);
    labelsWhat = `file:${fnv1a32(bytes)}`;
    checkLabelValues(labels, K, `--labels-file ${flags.labelsFile}`);
  } else if (flags.labels?.kind === 'random') {
    if (K === 0) throw new UsageError('--labels random: the model is unconditional (num_classes 0)');
    labels = seededLabels(flags.seed, Array.from({ length: total }, (_, i) => i), K);
    labelsWhat = 'random';
  } else if (flags.labels?.kind === 'list') {
    const values = flags.labels.values;
    checkLabelValues(values, K, '--labels');
    labels = Int32Array.from({ length: total }, (_, i) => values[i % values.length]);
    labelsWhat = `list:${values.join(',')}`;
  } else {
    // Default: classes in turn (0, 1, …, K−1, 0, …), so a grid shows every class.
    labels = K > 0 ? Int32Array.from({ length: total }, (_, i) => i % K) : null;
    labelsWhat = K > 0 ? 'cycle' : 'none';
  }
  if (K === 0) labels = null; // only -1 passed validation: the model has no class embedding
  return { total, noise, noiseHash, labels, labelsWhat };
}

/**
 * Samples per denoising step. The step's gradient keeps every layer's
 * activations, so it needs far more memory than sampling (a batch of 64 from
 * the default model peaks above 2 GiB in one step); it is taken in parts.
 * The step acts on each sample alone — its loss is a mean over the batch and
 * its rate noise_std² · numel(x) scales with the batch — so the parts give
 * the same images up to float rounding.
 */
export const DENOISE_BATCH = 8;

function denoiseInParts(model: TarFlow, images: ImageBatch, labels: tf.Tensor1D | undefined): ImageBatch {
  const B = images.shape[0];
  if (B <= DENOISE_BATCH) return model.denoise(images, labels);
  const parts: ImageBatch[] = [];
  try {
    for (let a = 0; a < B; a += DENOISE_BATCH) {
      const n = Math.min(DENOISE_BATCH, B - a);
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

export interface SampleRun {
  images: Float32Array;
  shape: number[];
  labels: Int32Array | null;
  /** Per chunk, and merged over chunks. */
  reports: SolveReport[];
  report: SolveReport;
  /** Trace images [n · (blocks + 1), C, H, W], sample-major, when asked for. */
  trace: Float32Array | null;
  wallMs: number;
}

/**
 * Samples the indices [start, end) of a run in chunks of `chunk` samples.
 * Noise comes from `noise` rows or from (seed, index); labels from `labels`.
 */
export function sampleRange(
  model: TarFlow,
  opts: {
    start: number;
    end: number;
    chunk: number;
    seed: number;
    noise: Float32Array | null;
    labels: Int32Array | null;
    strategy: SamplingStrategy;
    guidance?: GuidanceSettings;
    temperature?: number;
    solve: SolveOptions;
    denoise?: boolean;
    trace?: boolean;
    onBlock?: () => void;
  },
): SampleRun {
  const { in_channels: C, img_size: S } = model.config;
  const T = model.tokens;
  const D = model.patchDim;
  const n = opts.end - opts.start;
  const per = C * S * S;
  const steps = model.blocks.length + 1;
  const images = new Float32Array(n * per);
  const trace = opts.trace ? new Float32Array(n * steps * per) : null;
  const reports: SolveReport[] = [];
  const t0 = performance.now();
  for (let a = opts.start; a < opts.end; a += opts.chunk) {
    const b = Math.min(opts.end, a + opts.chunk);
    const indices = Array.from({ length: b - a }, (_, i) => a + i);
    const noise: PatchSeq = opts.noise
      ? (tf.tensor3d(opts.noise.subarray(a * T * D, b * T * D), [b - a, T, D]) as PatchSeq)
      : seededNoise(opts.seed, indices, T, D);
    const labels = opts.labels ? tf.tensor1d(opts.labels.subarray(a, b), 'int32') : undefined;
    try {
      const r = model.sample(noise, {
        ...opts.solve,
        labels,
        guidance: opts.guidance,
        temperature: opts.temperature,
        strategy: opts.strategy,
        trace: opts.trace,
        onBlock: opts.onBlock,
      });
      let out: ImageBatch = r.images;
      if (opts.denoise) {
        out = denoiseInParts(model, r.images, labels);
        r.images.dispose();
      }
      images.set(out.dataSync() as Float32Array, (a - opts.start) * per);
      out.dispose();
      if (trace && r.trace) {
        r.trace.forEach((t, s) => {
          const data = t.dataSync() as Float32Array;
          for (let i = 0; i < b - a; i++) {
            trace.set(data.subarray(i * per, (i + 1) * per), ((a - opts.start + i) * steps + s) * per);
          }
        });
        tf.dispose(r.trace);
      }
      reports.push(r.report);
    } finally {
      noise.dispose();
      labels?.dispose();
    }
  }
  return {
    images,
    shape: [n, C, S, S],
    labels: opts.labels ? opts.labels.slice(opts.start, opts.end) : null,
    reports,
    report: mergeReports(reports),
    trace,
    wallMs: performance.now() - t0,
  };
}

/** The solver options of the flags (reference semantics, divergence guard). */
export function solveOptionsFrom(flags: { referenceSemantics?: boolean; divergenceGuard?: boolean }): SolveOptions {
  return {
    ...(flags.referenceSemantics ? REFERENCE_SEMANTICS : {}),
    ...(flags.divergenceGuard === false ? { divergence: false as const } : {}),
  };
}

/** What identifies a run, so that `merge` can tell whether shards belong together. */
function runIdentity(source: ModelSource, flags: SampleFlags, inputs: Inputs, resolved: ResolvedStrategy, guidance?: GuidanceSettings, temperature = 1) {
  return {
    model: source.hash,
    seed: flags.seed,
    total: inputs.total,
    noise: inputs.noiseHash ? `file:${inputs.noiseHash}` : 'seeded',
    labels: inputs.labelsWhat,
    strategy: resolved.text,
    referenceSemantics: Boolean(flags.referenceSemantics),
    divergenceGuard: flags.divergenceGuard !== false,
    guidance: guidance ?? null,
    temperature,
    denoise: Boolean(flags.denoise),
  };
}

export async function sampleCommand(flags: SampleFlags): Promise<void> {
  const outKind = flags.out !== undefined ? outputKind(flags.out) : null;
  if (flags.trace !== undefined) outputKind(flags.trace, '--trace', ['png']);
  if (flags.checkpoint !== undefined) guidanceFrom(flags); // flag errors before the model loads
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend);
  const source = await loadModelSource(flags.checkpoint);
  const { model } = source;
  try {
    // The embedded model is meant to be sampled with its recommended guidance, temperature and denoising step.
    const intended = source.name === 'default' ? DEFAULT_MODEL_SAMPLING : undefined;
    const guidance = guidanceFrom(flags, intended?.guidance);
    const temperature = flags.temperature ?? intended?.temperature ?? 1;
    const denoise = flags.denoise ?? intended?.denoise ?? false;
    const inputs = await readInputs(flags, model);
    const { start, end } = shardRange(inputs.total, flags.shard);
    if (end <= start) throw new UsageError(`shard ${flags.shard!.index}/${flags.shard!.count} of a ${inputs.total}-sample run is empty`);
    const progress = createProgress(progressEnabled(flags.progress));
    if (flags.strategy === undefined && flags.solver === 'auto') progress.start('plan', 1);
    const resolved = resolveStrategy(model, flags, {
      batch: Math.min(flags.chunk, end - start, 32),
      guidance,
      temperature,
      seed: flags.seed,
      onProgress: (m) => progress.status(m),
    });
    if (flags.trace !== undefined && isJointStrategy(resolved.strategy)) {
      throw new UsageError('--trace: a joint strategy finishes all blocks together, so there is no per-block trace; drop --trace or pick a per-block strategy');
    }
    const chunks = Math.ceil((end - start) / flags.chunk);
    progress.start('sample', chunks * model.blocks.length);
    let run: SampleRun;
    try {
      run = sampleRange(model, {
        start,
        end,
        chunk: flags.chunk,
        seed: flags.seed,
        noise: inputs.noise,
        labels: inputs.labels,
        strategy: resolved.strategy,
        guidance,
        temperature,
        solve: solveOptionsFrom(flags),
        denoise,
        trace: flags.trace !== undefined,
        onBlock: () => progress.increment(),
      });
    } finally {
      progress.stop();
    }

    const written: Record<string, string> = {};
    // Grids show one class per column where labels cycle through a list of classes.
    const cycleLength = inputs.labelsWhat === 'cycle' ? model.config.num_classes : flags.labels?.kind === 'list' ? flags.labels.values.length : 0;
    const nrow = flags.nrow ?? (cycleLength > 1 ? cycleLength : Math.ceil(Math.sqrt(end - start)));
    if (flags.out !== undefined) {
      if (outKind === 'png') {
        await writeGrid(flags.out, run.images, run.shape, nrow);
      } else {
        const identity = runIdentity(source, { ...flags, denoise }, inputs, resolved, guidance, temperature);
        await writeSamples(flags.out, run.images, run.shape, run.labels, {
          format: SAMPLES_FORMAT,
          run: JSON.stringify(identity),
          seed: String(flags.seed),
          total: String(inputs.total),
          shard: `${flags.shard?.index ?? 1}/${flags.shard?.count ?? 1}`,
          start: String(start),
          count: String(end - start),
        });
      }
      written.out = resolve(flags.out);
    }
    if (flags.trace !== undefined && run.trace) {
      const { in_channels: C, img_size: S } = model.config;
      await writeGrid(flags.trace, run.trace, [run.trace.length / (C * S * S), C, S, S], model.blocks.length + 1);
      written.trace = resolve(flags.trace);
    }

    emit(
      flags,
      {
        command: 'sample',
        model: { source: source.name, hash: source.hash, config: model.config },
        backend,
        backendDetail,
        seed: flags.seed,
        total: inputs.total,
        shard: flags.shard ? { ...flags.shard, start, end } : null,
        samples: end - start,
        labels: run.labels ? Array.from(run.labels) : null,
        settings: { guidance: guidance ?? null, temperature, denoise },
        strategy: resolved.text,
        plan: resolved.plan ? { objective: resolved.plan.objective, text: resolved.plan.text, blocks: resolved.plan.blocks, predicted: resolved.plan.predicted } : undefined,
        report: run.report,
        chunks: run.reports.length > 1 ? run.reports : undefined,
        outputs: written,
        wallMs: run.wallMs,
        memory: { maxRssBytes: process.resourceUsage().maxRSS * 1024 },
      },
      () =>
        [
          describeModel(source),
          `sampled ${end - start} image${end - start === 1 ? '' : 's'}${flags.shard ? ` (shard ${flags.shard.index}/${flags.shard.count}: samples ${start}…${end - 1} of ${inputs.total})` : ''} on ${backend} in ${ms(run.wallMs)}` +
            (run.reports.length > 1 ? ` (${run.reports.length} chunks of up to ${flags.chunk}; per-block figures are the largest over chunks)` : ''),
          `settings: labels ${inputs.labelsWhat}${guidance ? `; guidance ${guidance.scale} on ${guidance.on}${guidance.annealed ? ', annealed' : ''}${guidance.attnTemp !== 1 ? `, attention temperature ${guidance.attnTemp}` : ''}` : '; no guidance'}` +
            `${temperature !== 1 ? `; temperature ${temperature}` : ''}${denoise ? '; one denoising step' : ''}${flags.referenceSemantics ? '; reference semantics' : ''}; seed ${flags.seed}`,
          formatReport(run.report, model.blocks.length),
          ...(written.out ? [`wrote ${flags.out}`] : []),
          ...(written.trace ? [`wrote ${flags.trace} (rows: samples; columns: noise, then the image after each block)`] : []),
        ].join('\n'),
    );
    if (flags.out === undefined && !flags.json) note('(no --out given: nothing written)');
  } finally {
    model.dispose();
  }
}
