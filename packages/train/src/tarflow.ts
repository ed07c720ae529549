/**
 * The TarFlow training loop (Zhai et al. 2024; Apple's ml-tarflow train.py):
 * maximum likelihood on Gaussian-noise-augmented images, AdamW, cosine
 * learning rate with linear warm-up, label drop for classifier-free guidance,
 * global-norm gradient clipping, the optional prior-variance update, PNG
 * sample grids and atomic, resumable checkpoints.
 *
 * Determinism: every random draw of step s — the batch (epoch order
 * `permutation(count, deriveSeed(seed, epoch))` from @tarflow/data), the noise
 * (`tf.randomNormal` seeded with deriveSeed(seed, s, 1)) and the label drop
 * (mulberry32(deriveSeed(seed, s, 2))) — depends only on (seed, s). A run is
 * therefore reproducible from its seed, and a resumed run takes exactly the
 * steps the uninterrupted run would have taken.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf, tfSeed, type ImageBatch } from '@tarflow/tensor';
import { TarFlow, cycleLabels, loadModel, validateConfig, type GuidanceSettings, type TarFlowConfig } from '@tarflow/model';
import {
  batches,
  deriveSeed,
  gridPng,
  loadDataset,
  mulberry32,
  numBatches,
  type Batch,
  type DatasetSpec,
  type ImageDataset,
  type LoadDatasetOptions,
} from '@tarflow/data';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { AdamW, clipByGlobalNorm } from './adamw.js';
import { cosineLr } from './schedule.js';
import { bitsPerDim, type TrainProgress } from './progress.js';
import {
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
  type TrainState,
} from './checkpoints.js';

/** Raised for training options that cannot work, and for resumes that do not fit the run. */
export class TrainingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrainingError';
  }
}

/** Options of {@link trainTarFlow}. Defaults follow the reference's train.py where it has one. */
export interface TrainTarFlowOptions {
  /** Model hyper-parameters (validated; missing optional fields take their defaults). */
  config: Partial<TarFlowConfig> & Pick<TarFlowConfig, 'in_channels' | 'img_size' | 'patch_size' | 'channels' | 'num_blocks' | 'layers_per_block'>;
  /** `'mnist'`, `'fashion-mnist'`, a PNG folder, or an already loaded dataset. */
  dataset: DatasetSpec | ImageDataset;
  /** Passed to `loadDataset` when `dataset` is a spec (default split `train`). */
  datasetOptions?: LoadDatasetOptions;
  /** Where checkpoints (`checkpoints/`), sample grids (`samples/`) and `model.safetensors` go. */
  outDir: string;
  /** Total optimizer steps of the run. */
  steps: number;
  batchSize: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** Learning rate at the start of warm-up and the end of the cosine (default 1e-6). */
  minLr?: number;
  /** Linear warm-up steps (default min(1000, steps / 10)). */
  warmupSteps?: number;
  /** AdamW settings (defaults β 0.9 / 0.95, ε 1e-8, weight decay 1e-4). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm limit (default 1; 0 disables clipping). */
  gradClip?: number;
  /** Probability of replacing a label by -1 (unconditional) for classifier-free guidance (default 0.1; conditional models only). */
  labelDrop?: number;
  /** Std of the Gaussian noise added to training images (default: the config's noise_std). */
  noiseStd?: number;
  /** Move the prior variance toward mean(z²) after each step, `model.updatePrior(z)` (default true). */
  updatePrior?: boolean;
  /** Seed of initialisation and of every random draw (default 0). */
  seed?: number;
  /**
   * Start from these weights instead of a fresh initialisation (fine-tuning, or a model grown from a
   * trained one): the path of a model `.safetensors` whose config equals `config`. The optimizer starts
   * afresh and the schedule at step 0. Part of the run's definition (by content hash): a resume must
   * name a file with the same weights.
   */
  init?: string;
  /** Write a checkpoint every this many steps (default 500) … */
  checkpointEvery?: number;
  /** … or when this many seconds passed since the last one, whichever is first (default none). */
  checkpointEverySeconds?: number;
  /** Checkpoints kept on disk (default 2, at least 1). */
  keepCheckpoints?: number;
  /** Write a sample grid every this many steps (default 0: only at the end). */
  sampleEvery?: number;
  /** Samples per class in the grid, one row per repeat (default 1; unconditional models draw 10 × this). */
  samplesPerClass?: number;
  /** Classifier-free guidance of the grids (default none). */
  sampleGuidance?: GuidanceSettings;
  /**
   * Resume: `'auto'` (default) continues from the newest checkpoint in
   * `outDir` when there is one; `true` requires one; `false` starts afresh
   * (existing checkpoints are overwritten as the run reaches their steps);
   * a path names a `.train.safetensors` sidecar to continue from.
   */
  resume?: 'auto' | boolean | string;
  /**
   * Allow resuming with a larger `steps` than the run was started with: the
   * cosine schedule is recomputed for the new total, so the learning rate
   * rises again from the resume point (a warm restart). Default false: every
   * run setting must match the checkpoint's.
   */
  extend?: boolean;
  /** Called after every step. */
  onProgress?: (p: TrainProgress) => void;
  /** Called after each checkpoint is written, with its model file and the live optimizer (read it, do not change it). */
  onCheckpoint?: (info: { step: number; path: string; optimizer: AdamW }) => void;
  /** Called once a checkpoint has been loaded to resume from, before the first step. */
  onResume?: (info: { step: number; path: string; optimizer: AdamW; model: TarFlow }) => void;
  /** Called after each sample grid is written. */
  onSample?: (info: { step: number; path: string }) => void;
  /** Messages (resume, skipped checkpoints, stop). */
  onLog?: (message: string) => void;
  /**
   * Stops the run before the next step when aborted. Unless
   * `checkpointOnAbort` is set, nothing is written, exactly as if the process
   * had been killed: the run continues from the last checkpoint when resumed.
   */
  signal?: AbortSignal;
  /** Stop after this step (with a checkpoint), e.g. to train in sessions; the run resumes later with the same options. */
  stopAfter?: number;
  /** Write a checkpoint when stopping on abort (default false: stop as a kill would). */
  checkpointOnAbort?: boolean;
}

export interface TrainTarFlowResult {
  /** The trained model (the caller owns it). */
  model: TarFlow;
  /** Steps completed, and whether all `steps` were done. */
  step: number;
  finished: boolean;
  /** Step the run started from (0, or the resumed checkpoint's). */
  resumedFrom: number;
  /** Model file of the last checkpoint written or resumed from, if any. */
  lastCheckpoint: string | null;
  /** Loss of each step taken in this call. */
  losses: number[];
}

/** The options that define a run: a resume must use the same values. */
function runDefinition(o: Required<Pick<TrainTarFlowOptions, 'steps' | 'batchSize'>> & Record<string, unknown>): Record<string, unknown> {
  const keys = ['config', 'dataset', 'datasetCount', 'steps', 'batchSize', 'lr', 'minLr', 'warmupSteps', 'beta1', 'beta2', 'eps',
    'weightDecay', 'gradClip', 'labelDrop', 'noiseStd', 'updatePrior', 'seed', 'init'];
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

function positiveInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new TrainingError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function fraction(name: string, v: number): number {
  if (!(v >= 0 && v <= 1)) throw new TrainingError(`${name} must be in [0, 1], got ${v}`);
  return v;
}

/** The model file a run starts from (`init`): its weights and the first 16 hex digits of its sha256; its config must be the run's. */
async function readInitModel(path: string, config: TarFlowConfig): Promise<{ model: TarFlow; hash: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new TrainingError(`init: cannot read ${path}: ${(e as Error).message}`);
  }
  let model: TarFlow;
  try {
    model = loadModel(bytes);
  } catch (e) {
    throw new TrainingError(`init: ${path} is not a TarFlow model file: ${(e as Error).message}`);
  }
  const diffs = (Object.keys(config) as (keyof TarFlowConfig)[]).filter((k) => JSON.stringify(model.config[k]) !== JSON.stringify(config[k]));
  if (diffs.length > 0) {
    model.dispose();
    throw new TrainingError(`init: ${path} has a different config (${diffs.map((k) => `${k}: file ${JSON.stringify(model.config[k])}, run ${JSON.stringify(config[k])}`).join('; ')})`);
  }
  return { model, hash: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

/** Loads (or takes) the dataset and checks that its images fit the model. */
export function prepareDataset(dataset: DatasetSpec | ImageDataset, options: LoadDatasetOptions | undefined, config: TarFlowConfig): ImageDataset {
  const ds = typeof dataset === 'string' ? loadDataset(dataset, { split: 'train', ...options }) : dataset;
  if (ds.count === 0) throw new TrainingError(`dataset '${ds.name}' is empty`);
  if (ds.channels !== config.in_channels || ds.height !== config.img_size || ds.width !== config.img_size) {
    throw new TrainingError(
      `dataset '${ds.name}' has images ${ds.channels}×${ds.height}×${ds.width} but the model expects ` +
        `${config.in_channels}×${config.img_size}×${config.img_size} (set datasetOptions.size / channels, or the config)`,
    );
  }
  if (config.num_classes > 0 && ds.numClasses > config.num_classes) {
    throw new TrainingError(`dataset '${ds.name}' has ${ds.numClasses} classes but the model's num_classes is ${config.num_classes}`);
  }
  return ds;
}

/** Labels of a grid: each class once per row (or -1 everywhere for unconditional models). */
function gridLabels(numClasses: number, perClass: number): Int32Array {
  return numClasses > 0 ? cycleLabels(numClasses * perClass, numClasses) : new Int32Array(10 * perClass).fill(-1);
}

/**
 * Draws a sample grid with the exact sequential sampler (noise seeded by
 * `seed`, so grids at different steps are comparable) and returns the PNG.
 */
export function sampleGridPng(model: TarFlow, labels: Int32Array, seed: number, guidance?: GuidanceSettings, nrow = 10): Uint8Array {
  const n = labels.length;
  const noise = tf.randomNormal([n, model.tokens, model.patchDim], 0, 1, 'float32', tfSeed(seed)) as tf.Tensor3D;
  const lab = model.config.num_classes > 0 ? tf.tensor1d(labels, 'int32') : undefined;
  let images: tf.Tensor4D;
  try {
    images = model.sample(noise, { labels: lab, guidance }).images;
  } finally {
    noise.dispose();
    lab?.dispose();
  }
  const { in_channels: c, img_size: s } = model.config;
  const data = images.dataSync() as Float32Array;
  images.dispose();
  return gridPng(data, [n, c, s, s], { nrow: Math.min(nrow, n) });
}

/**
 * Trains a TarFlow. Returns when `steps` are done or the signal aborts.
 * Checkpoints are written every `checkpointEvery` steps and at the end.
 */
export async function trainTarFlow(options: TrainTarFlowOptions): Promise<TrainTarFlowResult> {
  const config = validateConfig(options.config);
  const steps = positiveInt('steps', options.steps);
  const batchSize = positiveInt('batchSize', options.batchSize);
  const lr = options.lr ?? 1e-3;
  const minLr = options.minLr ?? 1e-6;
  const warmupSteps = options.warmupSteps ?? Math.min(1000, Math.floor(steps / 10));
  const gradClip = options.gradClip ?? 1;
  const labelDrop = fraction('labelDrop', options.labelDrop ?? 0.1);
  const noiseStd = options.noiseStd ?? config.noise_std;
  const updatePrior = options.updatePrior ?? true;
  const seed = options.seed ?? 0;
  const checkpointEvery = positiveInt('checkpointEvery', options.checkpointEvery ?? 500);
  const checkpointEverySeconds = options.checkpointEverySeconds ?? Infinity;
  const keep = positiveInt('keepCheckpoints', options.keepCheckpoints ?? 2);
  const sampleEvery = positiveInt('sampleEvery', options.sampleEvery ?? 0, 0);
  const samplesPerClass = positiveInt('samplesPerClass', options.samplesPerClass ?? 1);
  const resume = options.resume ?? 'auto';
  const stopAfter = options.stopAfter === undefined ? Infinity : positiveInt('stopAfter', options.stopAfter);
  const log = options.onLog ?? (() => undefined);
  positiveInt('warmupSteps', warmupSteps, 0);
  if (!(lr > 0) || !(minLr >= 0) || minLr > lr) throw new TrainingError(`learning rates must satisfy 0 <= minLr <= lr and lr > 0, got lr ${lr}, minLr ${minLr}`);
  if (!(noiseStd >= 0)) throw new TrainingError(`noiseStd must be >= 0, got ${noiseStd}`);
  if (!(gradClip >= 0)) throw new TrainingError(`gradClip must be >= 0 (0 disables clipping), got ${gradClip}`);

  const ds = prepareDataset(options.dataset, options.datasetOptions, config);
  const stepsPerEpoch = numBatches(ds.count, batchSize, true);
  if (stepsPerEpoch === 0) throw new TrainingError(`batchSize ${batchSize} is larger than the dataset '${ds.name}' (${ds.count} images)`);
  const init = options.init === undefined ? undefined : await readInitModel(options.init, config);

  const definition = runDefinition({
    config, dataset: ds.name, datasetCount: ds.count, steps, batchSize, lr, minLr, warmupSteps,
    beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.95, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 1e-4,
    gradClip, labelDrop, noiseStd, updatePrior, seed, init: init?.hash,
  });

  await mkdir(join(options.outDir, 'checkpoints'), { recursive: true });
  await mkdir(join(options.outDir, 'samples'), { recursive: true });

  // ---- model and optimizer: fresh, or from a checkpoint
  let model: TarFlow;
  let startStep = 0;
  let elapsedBefore = 0;
  let lastCheckpoint: string | null = null;
  let optimizerState = null;
  const loaded =
    typeof resume === 'string' && resume !== 'auto'
      ? await readCheckpoint(resume)
      : resume === false
        ? null
        : await latestCheckpoint(options.outDir, (p, why) => log(`skipping checkpoint ${p}: ${why}`));
  if (resume === true && !loaded) throw new TrainingError(`resume requested but ${join(options.outDir, 'checkpoints')} holds no usable checkpoint`);
  if (loaded) {
    const saved = loaded.state.options;
    const extended = options.extend === true && typeof saved.steps === 'number' && steps > saved.steps;
    const diffs = Object.keys(definition).filter(
      (k) => JSON.stringify(saved[k]) !== JSON.stringify(definition[k]) && !(k === 'steps' && extended),
    );
    if (diffs.length > 0) {
      loaded.model.dispose();
      init?.model.dispose();
      throw new TrainingError(
        `cannot resume from ${loaded.statePath}: the run was started with different ${diffs.join(', ')} ` +
          `(${diffs.map((k) => `${k}: saved ${JSON.stringify(saved[k])}, now ${JSON.stringify(definition[k])}`).join('; ')})`,
      );
    }
    model = loaded.model;
    startStep = loaded.state.step;
    elapsedBefore = loaded.state.elapsedMs;
    optimizerState = loaded.optimizer;
    lastCheckpoint = loaded.modelPath;
    log(`resuming from ${loaded.modelPath} at step ${startStep}/${steps}${extended ? ` (extended from ${String(saved.steps)} steps)` : ''}`);
    init?.model.dispose();
  } else if (init) {
    model = init.model;
    log(`starting from the weights of ${options.init!} (sha256 ${init.hash})`);
  } else {
    model = TarFlow.init(config, seed);
  }

  const params = model.trainableVariables();
  const optimizer = new AdamW(params, definition as { beta1: number; beta2: number; eps: number; weightDecay: number });
  if (optimizerState) {
    optimizer.setState(optimizerState);
    options.onResume?.({ step: startStep, path: lastCheckpoint!, optimizer, model });
  }
  const schedule = { maxLr: lr, minLr, warmupSteps, totalSteps: steps };
  const shape: [number, number, number, number] = [batchSize, config.in_channels, config.img_size, config.img_size];
  const sampleLabels = gridLabels(config.num_classes, samplesPerClass);
  const sampleSeed = deriveSeed(seed, 0x5a4d);

  let epoch = Math.floor(startStep / stepsPerEpoch);
  let iter: Generator<Batch, void, undefined> | null = null;
  const batchAt = (step: number): Batch => {
    const e = Math.floor(step / stepsPerEpoch);
    if (!iter || e !== epoch) {
      epoch = e;
      iter = batches(ds, batchSize, { seed, epoch, dropLast: true });
      for (let i = 0; i < step % stepsPerEpoch; i++) iter.next();
    }
    const r = iter.next();
    if (r.done) throw new Error(`internal: epoch ${epoch} ran out of batches at step ${step}`);
    return r.value;
  };

  const losses: number[] = [];
  let lossEma = NaN;
  let sinceCheckpoint: number[] = [];
  let lastCheckpointTime = performance.now();
  const sessionStart = performance.now();
  let step = startStep;

  const saveCheckpoint = async () => {
    const state: Omit<TrainState, 'modelFile' | 'modelHash'> = {
      version: 1,
      step,
      epoch: Math.floor(step / stepsPerEpoch),
      batchInEpoch: step % stepsPerEpoch,
      stepsPerEpoch,
      rng: { seed, position: step },
      options: definition,
      elapsedMs: elapsedBefore + (performance.now() - sessionStart),
      recentLoss: sinceCheckpoint.length ? sinceCheckpoint.reduce((a, b) => a + b, 0) / sinceCheckpoint.length : null,
    };
    lastCheckpoint = await writeCheckpoint(options.outDir, model, optimizer, state);
    await pruneCheckpoints(options.outDir, keep);
    sinceCheckpoint = [];
    lastCheckpointTime = performance.now();
    options.onCheckpoint?.({ step, path: lastCheckpoint, optimizer });
  };
  const saveSamples = async () => {
    const path = join(options.outDir, 'samples', `step-${String(step).padStart(7, '0')}.png`);
    await writeFileAtomic(path, sampleGridPng(model, sampleLabels, sampleSeed, options.sampleGuidance, config.num_classes > 0 ? config.num_classes : 10));
    options.onSample?.({ step, path });
  };

  try {
    while (step < steps) {
      if (options.signal?.aborted) {
        if (options.checkpointOnAbort && step > startStep) await saveCheckpoint();
        log(`stopped at step ${step} (abort); the last checkpoint is ${lastCheckpoint ?? 'none'}`);
        break;
      }
      const t0 = performance.now();
      const batch = batchAt(step);
      const rate = cosineLr(schedule, step);
      const labels = new Int32Array(batch.labels);
      if (config.num_classes > 0 && labelDrop > 0) {
        const rng = mulberry32(deriveSeed(seed, step, 2));
        for (let i = 0; i < labels.length; i++) if (rng() < labelDrop) labels[i] = -1;
      }
      const { loss, gradNorm } = trainStep(model, optimizer, {
        images: batch.images,
        labels: config.num_classes > 0 ? labels : null,
        shape,
        noiseStd,
        noiseSeed: deriveSeed(seed, step, 1),
        lr: rate,
        gradClip,
        updatePrior,
      });
      if (!Number.isFinite(loss)) {
        throw new TrainingError(`loss became ${loss} at step ${step} (lr ${rate.toExponential(2)}); lower the learning rate or resume from ${lastCheckpoint ?? 'a checkpoint'}`);
      }
      step += 1;
      losses.push(loss);
      sinceCheckpoint.push(loss);
      lossEma = Number.isNaN(lossEma) ? loss : 0.98 * lossEma + 0.02 * loss;
      const now = performance.now();
      const sessionMs = now - sessionStart;
      options.onProgress?.({
        step,
        totalSteps: steps,
        epoch: Math.floor((step - 1) / stepsPerEpoch),
        loss,
        bpd: bitsPerDim(loss),
        lossEma,
        lr: rate,
        gradNorm,
        stepMs: now - t0,
        elapsedMs: elapsedBefore + sessionMs,
        etaMs: (sessionMs / (step - startStep)) * (steps - step),
      });
      const last = step === steps;
      const pause = step === stopAfter;
      if (last || pause || step % checkpointEvery === 0 || (now - lastCheckpointTime) / 1000 >= checkpointEverySeconds) await saveCheckpoint();
      if (last || (sampleEvery > 0 && step % sampleEvery === 0)) await saveSamples();
      if (pause && !last) {
        log(`stopped after step ${step} (stopAfter); resume to continue`);
        break;
      }
    }
  } catch (e) {
    optimizer.dispose();
    model.dispose();
    throw e;
  }
  optimizer.dispose();
  return { model, step, finished: step === steps, resumedFrom: startStep, lastCheckpoint, losses };
}

interface StepInput {
  images: Float32Array;
  labels: Int32Array | null;
  shape: [number, number, number, number];
  noiseStd: number;
  noiseSeed: number;
  lr: number;
  gradClip: number;
  updatePrior: boolean;
}

/** One optimizer step; leaves no tensors behind. */
export function trainStep(model: TarFlow, optimizer: AdamW, input: StepInput): { loss: number; gradNorm: number } {
  const params = optimizer.params;
  const x = tf.tidy(() => {
    const clean = tf.tensor4d(input.images, input.shape);
    return input.noiseStd > 0 ? tf.add(clean, tf.randomNormal(input.shape, 0, input.noiseStd, 'float32', tfSeed(input.noiseSeed))) : clean;
  }) as ImageBatch;
  const labels = input.labels ? tf.tensor1d(input.labels, 'int32') : undefined;
  let z: tf.Tensor3D | null = null;
  try {
    const { value, grads } = tf.variableGrads(() => {
      const r = model.forward(x, labels);
      if (input.updatePrior) z = tf.keep(r.z);
      return model.loss(r.z, r.logdets);
    }, params as tf.Variable[]);
    const loss = value.dataSync()[0];
    value.dispose();
    const list = params.map((p) => grads[p.name]);
    const clipped = clipByGlobalNorm(list, input.gradClip);
    optimizer.apply(clipped.grads, input.lr);
    if (clipped.clipped) tf.dispose(clipped.grads);
    tf.dispose(list);
    if (z) model.updatePrior(z);
    return { loss, gradNorm: clipped.norm };
  } finally {
    x.dispose();
    labels?.dispose();
    if (z) (z as tf.Tensor).dispose();
  }
}

