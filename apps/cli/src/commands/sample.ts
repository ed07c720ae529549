/**
 * `tarflow sample`: draws images from a model with the chosen solver and
 * writes a PNG grid or the raw tensor, a per-block trace, and the solve report.
 */
import { resolve } from 'node:path';
import { seededLabels, seededNoise, tf, type PatchSeq } from '@tarflow/tensor';
import { cycleLabels, sampleInChunks, type ChunkedSampleResult, type GuidanceSettings, type SamplingEngine, type TarFlow } from '@tarflow/model';
import { formatStrategy, isJointStrategy, REFERENCE_SEMANTICS, type GuessTable, type SamplingStrategy, type SolveOptions } from '@tarflow/solvers';
import { fnv1a32 } from '@tarflow/tensor/hash';
import { checkLabelValues, outputKind, type LabelsSpec, type Shard } from '../args.js';
import { useBackend, type BackendChoice } from '../backend.js';
import { UsageError } from '../errors.js';
import { checkSampled, floatTensor, given, intTensor, outputSet, readBytes, readSafetensors } from '../files.js';
import { formatReport, ms } from '../format.js';
import { describeModel, loadModelSource, type ModelSource } from '../model-source.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { planStoreFrom, resolveFromFlags, type PlanCacheFlags, type ResolvedStrategy, type SolverFlags } from '../strategy.js';
import { DEFAULT_BATCH } from '../constants.js';
import { checkSampleCount } from '../validate.js';

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

export interface SampleFlags extends CommonFlags, SolverFlags, GuidanceFlags, PlanCacheFlags {
  checkpoint?: string;
  referenceSemantics?: boolean;
  divergenceGuard?: boolean;
  labels?: LabelsSpec;
  labelsFile?: string;
  denoise?: boolean;
  seed: number;
  batch?: number;
  chunk: number;
  engine?: SamplingEngine;
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
    const file = await readSafetensors(flags.noise, '--noise file', bytes);
    const t = floatTensor(file, 'noise', flags.noise, '--noise file', [null, T, D]);
    if (flags.batch !== undefined && flags.batch !== t.shape[0]) {
      throw new UsageError(`--batch ${flags.batch} disagrees with --noise ${flags.noise}, which holds ${t.shape[0]} samples`);
    }
    total = checkSampleCount(t.shape[0], `--noise file ${flags.noise}`);
    noise = t.data;
    noiseHash = fnv1a32(bytes);
  }
  if (total < 1) throw new UsageError('the run has no samples');
  let labels: Int32Array | null = null;
  let labelsWhat: string;
  if (flags.labelsFile !== undefined) {
    if (flags.labels) throw new UsageError('give either --labels or --labels-file, not both');
    const bytes = await readBytes(flags.labelsFile, '--labels-file');
    const file = await readSafetensors(flags.labelsFile, '--labels-file', bytes);
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
    labels = cycleLabels(total, values);
    labelsWhat = `list:${values.join(',')}`;
  } else {
    // Default: classes in turn (0, 1, …, K−1, 0, …), so a grid shows every class.
    labels = K > 0 ? cycleLabels(total, K) : null;
    labelsWhat = K > 0 ? 'cycle' : 'none';
  }
  if (K === 0) labels = null; // only -1 passed validation: the model has no class embedding
  return { total, noise, noiseHash, labels, labelsWhat };
}

export interface SampleRun extends ChunkedSampleResult {
  labels: Int32Array | null;
}

/**
 * Samples the indices [start, end) of a run in chunks of `chunk` samples
 * (@tarflow/model's sampleInChunks). Noise comes from `noise` rows or from
 * (seed, index); labels from `labels`.
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
    guessTable?: GuessTable;
    guidance?: GuidanceSettings;
    temperature?: number;
    solve: SolveOptions;
    engine?: SamplingEngine;
    denoise?: boolean;
    trace?: boolean;
    onBlock?: () => void;
  },
): SampleRun {
  const T = model.tokens;
  const D = model.patchDim;
  const { start, end } = opts;
  const labels = opts.labels ? opts.labels.slice(start, end) : null;
  const noiseOf = (a: number, b: number): PatchSeq =>
    opts.noise
      ? (tf.tensor3d(opts.noise.subarray((start + a) * T * D, (start + b) * T * D), [b - a, T, D]) as PatchSeq)
      : seededNoise(opts.seed, Array.from({ length: b - a }, (_, i) => start + a + i), T, D);
  const run = sampleInChunks(model, end - start, noiseOf, {
    ...opts.solve,
    chunk: opts.chunk,
    engine: opts.engine,
    labels,
    guidance: opts.guidance,
    temperature: opts.temperature,
    strategy: opts.strategy,
    guessTable: opts.guessTable,
    trace: opts.trace,
    onBlock: opts.onBlock,
    denoise: opts.denoise,
  });
  return { ...run, labels };
}

/** The solver options of the flags (reference semantics, divergence guard). */
export function solveOptionsFrom(flags: { referenceSemantics?: boolean; divergenceGuard?: boolean }): SolveOptions {
  return {
    ...(flags.referenceSemantics ? REFERENCE_SEMANTICS : {}),
    ...(flags.divergenceGuard === false ? { divergence: false as const } : {}),
  };
}

/** One line on where --solver auto's strategy came from. */
function planLine(r: ResolvedStrategy): string {
  const plan = r.plan!;
  const from =
    r.source === 'shipped' ? 'the plan shipped in the model file'
    : r.source === 'kept' ? 'the plan cache'
    : `planned here in ${ms(plan.planningMs)}${plan.complete ? '' : ' (cut short by the planning budget: not kept)'}`;
  // A stored plan's first reason is the cost of making it back then, not of this run: say so.
  const reason = r.source === 'planned' ? (plan.reasons[0] ?? '') : plan.reasons[0] ? `made earlier (${plan.reasons[0]}); no planning in this run` : 'no planning in this run';
  return `solver auto (objective ${plan.objective}): ${formatStrategy(r.strategy, { compact: true })}, from ${from}; ${reason}`.replace(/; $/, '');
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
  const outputs = await outputSet(given({ '--out': flags.out, '--trace': flags.trace }), given({ '--checkpoint': flags.checkpoint, '--noise': flags.noise, '--labels-file': flags.labelsFile }));
  if (flags.checkpoint !== undefined) guidanceFrom(flags); // flag errors before the model loads
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend);
  const source = await loadModelSource(flags.checkpoint);
  const { model } = source;
  try {
    // A model is sampled as its file recommends (the embedded one: guidance, a lower temperature, a denoising step).
    const intended = model.recommended;
    const guidance = guidanceFrom(flags, intended?.guidance);
    const temperature = flags.temperature ?? intended?.temperature ?? 1;
    const denoise = flags.denoise ?? intended?.denoise ?? false;
    const inputs = await readInputs(flags, model);
    const { start, end } = shardRange(inputs.total, flags.shard);
    if (end <= start) throw new UsageError(`shard ${flags.shard!.index}/${flags.shard!.count} of a ${inputs.total}-sample run is empty`);
    const progress = createProgress(progressEnabled(flags.progress));
    if (flags.strategy === undefined && flags.solver === 'auto') progress.start('plan', 1);
    // A plan is for the batch of one model call (at most 32: a plan for B serves every batch ≥ B) and budgeted by the run's samples.
    const resolved = resolveFromFlags(model, flags, {
      batch: Math.min(flags.chunk, end - start, 32),
      samples: end - start,
      guidance,
      temperature,
      seed: flags.seed,
      ...(flags.engine !== undefined ? { engine: flags.engine } : {}),
      metadata: source.metadata,
      store: flags.strategy === undefined && (flags.solver ?? 'auto') === 'auto' ? planStoreFrom(flags) : undefined,
      onProgress: (m) => progress.status(m),
    });
    for (const w of resolved.warnings) note(w);
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
        guessTable: resolved.guessTable,
        guidance,
        temperature,
        solve: solveOptionsFrom(flags),
        engine: flags.engine,
        denoise,
        trace: flags.trace !== undefined,
        onBlock: () => progress.increment(),
      });
    } finally {
      progress.stop();
    }
    checkSampled(run.images, run.shape);

    const written: Record<string, string> = {};
    // Grids show one class per column where labels cycle through a list of classes.
    const cycleLength = inputs.labelsWhat === 'cycle' ? model.config.num_classes : flags.labels?.kind === 'list' ? flags.labels.values.length : 0;
    const nrow = flags.nrow ?? (cycleLength > 1 ? cycleLength : Math.ceil(Math.sqrt(end - start)));
    if (flags.out !== undefined) {
      if (outKind === 'png') {
        await outputs.grid(flags.out, run.images, run.shape, nrow);
      } else {
        const identity = runIdentity(source, { ...flags, denoise }, inputs, resolved, guidance, temperature);
        await outputs.samples(flags.out, run.images, run.shape, run.labels, {
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
      await outputs.grid(flags.trace, run.trace, [run.trace.length / (C * S * S), C, S, S], model.blocks.length + 1);
      written.trace = resolve(flags.trace);
    }
    await outputs.commit();

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
        plan: resolved.plan
          ? {
              source: resolved.source,
              objective: resolved.plan.objective,
              effort: resolved.plan.effort,
              text: resolved.plan.text,
              batch: resolved.plan.batch,
              reasons: resolved.plan.reasons,
              planningMs: resolved.source === 'planned' ? resolved.plan.planningMs : 0,
              blocks: resolved.plan.blocks,
              predicted: resolved.plan.predicted,
              notes: resolved.notes,
            }
          : undefined,
        report: run.report,
        engine: run.engine,
        chunks: run.reports.length > 1 ? run.reports : undefined,
        outputs: written,
        wallMs: run.wallMs,
        memory: { maxRssBytes: process.resourceUsage().maxRSS * 1024 },
      },
      () =>
        [
          describeModel(source),
          `sampled ${end - start} image${end - start === 1 ? '' : 's'}${flags.shard ? ` (shard ${flags.shard.index}/${flags.shard.count}: samples ${start}…${end - 1} of ${inputs.total})` : ''} on ${backend} in ${ms(run.wallMs)}, ${run.engine.name} engine${run.engine.reason && flags.engine === 'fused' ? ` (${run.engine.reason})` : ''}` +
            (run.reports.length > 1 ? ` (${run.reports.length} chunks of up to ${flags.chunk}; per-block figures are the largest over chunks)` : ''),
          `settings: labels ${inputs.labelsWhat}${guidance ? `; guidance ${guidance.scale} on ${guidance.on}${guidance.annealed ? ', annealed' : ''}${guidance.attnTemp !== 1 ? `, attention temperature ${guidance.attnTemp}` : ''}` : '; no guidance'}` +
            `${temperature !== 1 ? `; temperature ${temperature}` : ''}${denoise ? '; one denoising step' : ''}${flags.referenceSemantics ? '; reference semantics' : ''}; seed ${flags.seed}`,
          ...(resolved.plan ? [planLine(resolved)] : []),
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
