/**
 * `tarflow bench`: the solvers side by side on one backend — sequential,
 * plain Jacobi, a paper-style hand strategy and the planner's — with wall
 * time, depth, speed-up, mean |Δ| against the exact sampler, FD of classifier
 * features, and peak memory; then how the speed-up scales with batch size and
 * with sequence length, and a memory check of a batch of 64.
 *
 * Each backend is measured in its own worker process (so peak RSS belongs to
 * that backend alone); the parent writes the markdown report and the JSON.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededNoise, tf, type ImageBatch } from '@tarflow/tensor';
import { TarFlow, type GuidanceSettings, type TarFlowConfig } from '@tarflow/model';
import { formatSamplingStrategy, isJointStrategy, parseNotation, type GuessTable, type SamplingStrategy, type Strategy } from '@tarflow/solvers';
import {
  convergenceMetrics,
  featureStats,
  frechetFromStats,
  loadClassifier,
  planStrategy,
  sampleQuality,
  type FeatureFn,
  type FeatureStats,
  type Objective,
} from '@tarflow/metrics';
import { loadDataset } from '@tarflow/data';
import { classifierBytes, DEFAULT_MODEL_SAMPLING } from '@tarflow/zoo';
import { useBackend, type BackendChoice } from '../backend.js';
import { CliError, UsageError, messageOf } from '../errors.js';
import { writeOutput } from '../files.js';
import { compactStrategy, markdownTable, mib, ms, sci } from '../format.js';
import { describeModel, loadModelSource, type ModelSource } from '../model-source.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled, type Progress } from '../progress.js';
import { DEFAULT_TOLERANCE } from '../strategy.js';

export interface BenchFlags extends CommonFlags {
  out: string;
  jsonOut?: string;
  backends: string;
  checkpoint?: string;
  repeats?: number;
  batch?: number;
  batches?: string;
  tokens?: string;
  fdCount?: number;
  memoryBatch?: number;
  memorySolvers?: string;
  quick?: boolean;
  /** Internal: run the measurements of one backend and write them to `workerOut`. */
  workerBackend?: BackendChoice;
  workerOut?: string;
  /** Re-render the markdown from a saved JSON report instead of measuring. */
  render?: string;
  /** Internal: what an earlier backend's worker measured that does not depend on the backend (see Shared). */
  shared?: string;
}

/**
 * What the first backend's worker measures that does not depend on the
 * backend — which block is toughest (CRM) and the planner's depth-objective
 * strategy — handed to the other workers instead of being computed again.
 */
interface Shared {
  toughest: { samplingIndex: number; forwardIndex: number; crmShare: number; calibration: string };
  depthPlan: { strategy: SamplingStrategy; planMs: number } | null;
  backend: string;
}

/** Solvers of the memory check: the CLI's own, or the planner's depth strategy. */
const MEMORY_SOLVERS = ['sequential', 'jacobi', 'gs-jacobi', 'planner-depth'] as const;

/** What one backend's worker measures. */
interface Profile {
  batch: number;
  repeats: number;
  batches: number[];
  tokens: number[];
  /** Samples per strategy for the FD column (0: no FD). */
  fdCount: number;
  /** Solvers of the batch-of-64 memory check. */
  memorySolvers: string[];
  memoryBatch: number;
}

/**
 * Per-backend defaults sized to keep `pnpm bench` near ten minutes on a
 * two-core machine. The plain-JavaScript cpu backend runs a full-sequence
 * pass an order of magnitude slower than wasm, so it gets smaller batches;
 * webgpu uses the wasm sizes.
 */
const PROFILES: Record<string, Profile> = {
  wasm: { batch: 8, repeats: 3, batches: [1, 8, 32], tokens: [16, 49, 64, 256], fdCount: 32, memorySolvers: ['sequential', 'planner-depth'], memoryBatch: 64 },
  cpu: { batch: 1, repeats: 2, batches: [], tokens: [16, 49], fdCount: 0, memorySolvers: [], memoryBatch: 64 },
  quick: { batch: 2, repeats: 1, batches: [2], tokens: [16], fdCount: 0, memorySolvers: ['sequential'], memoryBatch: 4 },
};

function listArg(text: string, flag: string): number[] {
  if (text.trim() === '') return [];
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UsageError(`${flag} ${text}: expected a comma list of positive integers`);
  }
  return values;
}

function profileFor(backend: string, flags: BenchFlags): Profile {
  const base = { ...(flags.quick ? PROFILES.quick : (PROFILES[backend] ?? PROFILES.wasm)) };
  if (flags.batch !== undefined) base.batch = flags.batch;
  if (flags.repeats !== undefined) base.repeats = flags.repeats;
  if (flags.batches !== undefined) base.batches = listArg(flags.batches, '--batches');
  if (flags.tokens !== undefined) base.tokens = listArg(flags.tokens, '--tokens');
  if (flags.fdCount !== undefined) base.fdCount = flags.fdCount;
  if (flags.memoryBatch !== undefined) base.memoryBatch = flags.memoryBatch;
  if (flags.memorySolvers !== undefined) {
    base.memorySolvers = flags.memorySolvers.split(',').map((x) => x.trim()).filter((x) => x !== '');
    for (const x of base.memorySolvers) {
      if (!(MEMORY_SOLVERS as readonly string[]).includes(x)) throw new UsageError(`--memory-solvers: unknown solver '${x}' (expected ${MEMORY_SOLVERS.join(', ')})`);
    }
  }
  for (const t of base.tokens) {
    if (!Number.isInteger(Math.sqrt(t)) || t < 4) throw new UsageError(`--tokens: ${t} is not a square >= 4 (random models use square images of 2×2 patches)`);
  }
  return base;
}

// ---------------------------------------------------------------- measurements

interface Row {
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
  /** Set when the strategy was planned by another backend's worker (depth plans do not depend on the backend). */
  plannedOn?: string;
}

interface ScalingRow {
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

interface MemoryRow {
  solver: string;
  batch: number;
  maxRssBytes: number;
  wallMs: number;
  depth: number;
  ok: boolean;
  error?: string;
}

interface WorkerResult {
  backend: string;
  backendDetail: string;
  profile: Profile;
  model: { source: string; hash: string; description: string; tokens: number; blocks: number; conditional: boolean; guidance: GuidanceSettings | null; temperature: number };
  sideBySide: Row[];
  shared: Shared;
  fdReal?: { count: number; floor: number; reference: string };
  batchScaling: ScalingRow[];
  tokenScaling: ScalingRow[];
  memory: MemoryRow[];
  /** Wall time of each part of the worker. */
  phases: Record<string, number>;
  totalMs: number;
}

const GiB = 2 ** 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function maxRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function cycleLabels(model: TarFlow, n: number): tf.Tensor1D | undefined {
  const K = model.config.num_classes;
  return K > 0 ? tf.tensor1d(Array.from({ length: n }, (_, i) => i % K), 'int32') : undefined;
}

/**
 * The high-water mark of tfjs tensor bytes (what `tf.memory().numBytes`
 * counts, model weights included) over a span of work. `tf.profile` reports
 * the same figure but keeps a record of every kernel and fails on runs of
 * more than about 10⁵ kernels, which long sequential runs reach; this follows
 * the engine's byte counter through an accessor instead.
 */
function watchTensorBytes(): { reset(): void; peak(): number } {
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
  };
}

interface Timed {
  times: number[];
  images: ImageBatch;
  depth: number;
  sequentialDepth: number;
  fallbacks: number;
}

/** How the model is sampled in every run: guidance and temperature. */
interface Settings {
  guidance?: GuidanceSettings;
  temperature?: number;
}

/** Runs `strategy` on fixed noise `runs` times, keeping the last images. */
function timeStrategy(
  model: TarFlow,
  noise: tf.Tensor3D,
  labels: tf.Tensor1D | undefined,
  strategy: SamplingStrategy,
  options: { runs: number } & Settings,
): Timed {
  const times: number[] = [];
  let last: Omit<Timed, 'times'> | null = null;
  for (let i = 0; i < options.runs; i++) {
    const t0 = performance.now();
    const r = model.sample(noise, { labels, strategy, guidance: options.guidance, temperature: options.temperature });
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
function passCost(wallMs: number, depth: number, seqWallMs: number, seqDepth: number): number {
  return wallMs / Math.max(1, depth) / (seqWallMs / Math.max(1, seqDepth));
}

/** A scaling-table row of `solver` against the sequential run `seq` of the same size. */
function scalingRow(label: string, size: number, solver: string, r: Timed, seq: Timed): ScalingRow {
  const wallMs = median(r.times);
  return {
    label,
    size,
    solver,
    wallMs,
    depth: r.depth,
    sequentialDepth: r.sequentialDepth,
    speedup: median(seq.times) / wallMs,
    passCost: passCost(wallMs, r.depth, median(seq.times), seq.depth),
    depthReduction: r.sequentialDepth / Math.max(1, r.depth),
    meanAbsDiff: r === seq ? 0 : meanMaxDiff(r.images, seq.images).mean,
  };
}

/** A randomly initialised model with T tokens whose proj_out is random too, so that no block is the identity. */
function randomModel(tokens: number, seed: number): TarFlow {
  const side = 2 * Math.sqrt(tokens);
  const config: TarFlowConfig = {
    in_channels: 1,
    img_size: side,
    patch_size: 2,
    channels: 64,
    num_blocks: 4,
    layers_per_block: 2,
    num_classes: 0,
    noise_std: 0.05,
    head_dim: 32,
    expansion: 4,
    nvp: true,
  };
  const model = TarFlow.init(config, seed);
  model.blocks.forEach((b, i) => {
    const w = b.projOut.weight;
    w.assign(tf.randomNormal(w.shape, 0, RANDOM_PROJ_OUT_STD, 'float32', seed * 100 + i));
  });
  return model;
}

/** Std of the random proj_out weights of the sequence-length models. */
const RANDOM_PROJ_OUT_STD = 0.02;

function jacobiEverywhere(model: TarFlow): Strategy {
  return model.blocks.map(() => ({ kind: 'jacobi' as const, modules: 1, maxIterations: model.tokens - 1, tolerance: DEFAULT_TOLERANCE }));
}

function sequentialEverywhere(model: TarFlow): Strategy {
  return model.blocks.map(() => ({ kind: 'sequential' as const }));
}

/**
 * The paper-style hand strategy: GS-Jacobi with 4 modules (each solved to
 * exactness at most) on the block with the largest CRM, plain Jacobi capped
 * at 10 iterations elsewhere, all stopping early at the default tolerance.
 */
function handStrategy(model: TarFlow, toughest: number): Strategy {
  const T = model.tokens;
  const G = Math.min(4, Math.max(1, T - 1));
  return parseNotation(`[${toughest}-${G}-${Math.ceil((T - 1) / G)}-${Math.min(10, T - 1)}]`, model.blocks.length, { tolerance: DEFAULT_TOLERANCE });
}

function meanMaxDiff(a: ImageBatch, b: ImageBatch): { mean: number; max: number } {
  const q = sampleQuality({ samples: a, reference: b });
  return { mean: q.meanAbsDiff!, max: q.maxAbsDiff! };
}

/** Classifier features of MNIST-shaped models (from @tarflow/zoo), with real-image statistics, when available. */
async function fdSetup(model: TarFlow, count: number, progress: Progress): Promise<{ features: FeatureFn; real: FeatureStats; floor: number; dispose: () => void } | null> {
  const c = model.config;
  if (count <= 0 || c.in_channels !== 1 || c.img_size !== 28) return null;
  progress.status('FD: classifier features of real MNIST test digits');
  const classifier = loadClassifier(await classifierBytes());
  const features: FeatureFn = (x) => classifier.features(x);
  const test = loadDataset('mnist', { split: 'test' });
  const all = tf.tensor4d(test.images, [test.count, 1, 28, 28]);
  // The noise floor of FD at this sample count: `count` real digits against all of them.
  const few = tf.slice(all, 0, Math.min(count, test.count)) as ImageBatch;
  const real = featureStats(all, features);
  const floor = frechetFromStats(featureStats(few, features), real);
  tf.dispose([all, few]);
  return { features, real, floor, dispose: () => classifier.dispose() };
}

/** The block with the largest CRM on a calibration batch: MNIST test digits for MNIST-shaped models, else exact samples. */
function toughestBlock(
  model: TarFlow,
  noise: tf.Tensor3D,
  labels: tf.Tensor1D | undefined,
  settings: Settings,
  log: (m: string) => void,
): Shared['toughest'] {
  log('CRM of each block');
  let calibration: ImageBatch;
  let what: string;
  if (model.config.in_channels === 1 && model.config.img_size === 28) {
    const ds = loadDataset('mnist', { split: 'test', limit: 64 });
    calibration = tf.tensor4d(ds.images, [ds.count, 1, 28, 28]);
    what = `${ds.count} MNIST test digits`;
  } else {
    calibration = model.sample(noise, { labels, ...settings }).images;
    what = `${noise.shape[0]} exact samples`;
  }
  const metrics = convergenceMetrics(model, calibration);
  calibration.dispose();
  const tough = metrics.blocks.reduce((a, b) => (b.crm > a.crm ? b : a));
  return { samplingIndex: tough.samplingIndex, forwardIndex: tough.forwardIndex, crmShare: tough.crmShare, calibration: what };
}

async function runWorker(backendChoice: BackendChoice, flags: BenchFlags): Promise<WorkerResult> {
  const t0 = performance.now();
  const { name: backend, detail: backendDetail } = await useBackend(backendChoice);
  const profile = profileFor(backend, flags);
  const progress = createProgress(progressEnabled(flags.progress));
  const source: ModelSource = await loadModelSource(flags.checkpoint);
  const { model } = source;
  const bytes = watchTensorBytes();
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = now - phaseStart;
    phaseStart = now;
  };
  const B = profile.batch;
  // The embedded model is sampled as it is meant to be, with its recommended guidance and temperature.
  const guidance: GuidanceSettings | undefined = source.name === 'default' ? { ...DEFAULT_MODEL_SAMPLING.guidance } : undefined;
  const temperature = source.name === 'default' ? DEFAULT_MODEL_SAMPLING.temperature : 1;
  const settings: Settings = { guidance, temperature };
  const drawNoise = (seed: number, count: number) => seededNoise(seed, Array.from({ length: count }, (_, i) => i), model.tokens, model.patchDim);
  const log = (m: string) => progress.status(`${backend}: ${m}`);
  progress.start(`bench ${backend}`, 5 + profile.batches.length * 3 + profile.tokens.length * 3 + profile.memorySolvers.length);
  try {
    const noise = drawNoise(0, B);
    const labels = cycleLabels(model, B);
    const given = flags.shared ? (JSON.parse(await readFile(flags.shared, 'utf8')) as Shared) : null;
    const toughest = given?.toughest ?? toughestBlock(model, noise, labels, settings, log);
    const fd = await fdSetup(model, profile.fdCount, progress);
    const fdNoise = fd ? drawNoise(1, profile.fdCount) : null;
    const fdLabels = fd ? cycleLabels(model, profile.fdCount) : undefined;
    log('warm-up');
    model.sample(noise, { labels, ...settings }).images.dispose();
    phase('setup');

    // ---- side by side
    const reusedPlan = given?.depthPlan ?? null;
    const candidates: Array<{ name: string; strategy?: SamplingStrategy; objective?: Objective }> = [
      { name: 'sequential', strategy: sequentialEverywhere(model) },
      { name: `Jacobi (tol ${sci(DEFAULT_TOLERANCE, 0)})`, strategy: jacobiEverywhere(model) },
      { name: 'hand: GS-Jacobi on the toughest block', strategy: handStrategy(model, toughest.samplingIndex) },
      { name: 'planner, objective depth', ...(reusedPlan ? { strategy: reusedPlan.strategy } : { objective: 'depth' as const }) },
      { name: 'planner, objective time', objective: 'time' },
    ];
    const rows: Row[] = [];
    let reference: ImageBatch | null = null;
    let depthPlan: Shared['depthPlan'] = reusedPlan;
    for (const c of candidates) {
      let strategy = c.strategy!;
      let planMs: number | undefined;
      let plannedOn: string | undefined;
      if (c.objective) {
        log(`planning (objective ${c.objective})`);
        const p0 = performance.now();
        strategy = planStrategy(model, { objective: c.objective, batch: B, guidance, temperature, seed: 1234 }).strategy;
        planMs = performance.now() - p0;
        if (c.objective === 'depth') depthPlan = { strategy, planMs };
      } else if (reusedPlan && c.strategy === reusedPlan.strategy) {
        planMs = reusedPlan.planMs;
        plannedOn = given!.backend;
      }
      let fdValue: number | undefined;
      if (fd && fdNoise) {
        log(`FD of ${c.name} (${profile.fdCount} samples)`);
        const s = model.sample(fdNoise, { labels: fdLabels, strategy, ...settings }).images;
        fdValue = frechetFromStats(featureStats(s, fd.features), fd.real);
        s.dispose();
      }
      log(`timing ${c.name}`);
      bytes.reset();
      const t = timeStrategy(model, noise, labels, strategy, { runs: profile.repeats, ...settings });
      if (!reference) reference = tf.keep(tf.clone(t.images));
      const diff = meanMaxDiff(t.images, reference);
      t.images.dispose();
      const wall = median(t.times);
      rows.push({
        name: c.name,
        strategy: compactStrategy(strategy),
        wallMs: wall,
        times: t.times,
        depth: t.depth,
        sequentialDepth: t.sequentialDepth,
        fallbacks: t.fallbacks,
        speedup: (rows[0]?.wallMs ?? wall) / wall,
        passCost: passCost(wall, t.depth, rows[0]?.wallMs ?? wall, rows[0]?.depth ?? t.depth),
        depthReduction: t.sequentialDepth / Math.max(1, t.depth),
        meanAbsDiff: diff.mean,
        maxAbsDiff: diff.max,
        fd: fdValue,
        tfPeakBytes: bytes.peak(),
        maxRssBytes: maxRss(),
        planMs,
        plannedOn,
      });
      progress.increment();
    }
    reference?.dispose();
    tf.dispose([noise, ...(labels ? [labels] : []), ...(fdNoise ? [fdNoise] : []), ...(fdLabels ? [fdLabels] : [])]);
    const fdReal = fd ? { count: profile.fdCount, floor: fd.floor, reference: '1000 MNIST test digits' } : undefined;
    fd?.dispose();
    phase('side by side');

    // ---- speed-up against batch size (same model); one timed run per row
    const once = { runs: 1 };
    const batchScaling: ScalingRow[] = [];
    const solvers = [
      { solver: 'jacobi', strategy: jacobiEverywhere(model) },
      ...(depthPlan ? [{ solver: 'planner (depth)', strategy: depthPlan.strategy }] : []),
    ];
    for (const b of profile.batches) {
      log(`batch ${b}`);
      const n = drawNoise(0, b);
      const l = cycleLabels(model, b);
      const seq = timeStrategy(model, n, l, sequentialEverywhere(model), { ...once, ...settings });
      batchScaling.push(scalingRow('batch', b, 'sequential', seq, seq));
      progress.increment();
      for (const s of solvers) {
        const r = timeStrategy(model, n, l, s.strategy, { ...once, ...settings });
        batchScaling.push(scalingRow('batch', b, s.solver, r, seq));
        r.images.dispose();
        progress.increment();
      }
      tf.dispose([seq.images, n, ...(l ? [l] : [])]);
    }
    phase('batch scaling');

    // ---- speed-up against sequence length (random models)
    const tokenScaling: ScalingRow[] = [];
    for (const T of profile.tokens) {
      log(`random model, T = ${T}`);
      const m = randomModel(T, 7);
      const n = seededNoise(0, Array.from({ length: B }, (_, i) => i), m.tokens, m.patchDim);
      const seq = timeStrategy(m, n, undefined, sequentialEverywhere(m), once);
      tokenScaling.push(scalingRow('T', T, 'sequential', seq, seq));
      progress.increment();
      const G = Math.min(4, T - 1);
      const gs: Strategy = m.blocks.map(() => ({ kind: 'jacobi', modules: G, maxIterations: Math.ceil((T - 1) / G), tolerance: DEFAULT_TOLERANCE }));
      for (const s of [
        { solver: 'jacobi', strategy: jacobiEverywhere(m) },
        { solver: `gs-jacobi G=${G} (all blocks)`, strategy: gs },
      ]) {
        const r = timeStrategy(m, n, undefined, s.strategy, once);
        tokenScaling.push(scalingRow('T', T, s.solver, r, seq));
        r.images.dispose();
        progress.increment();
      }
      tf.dispose([seq.images, n]);
      m.dispose();
    }
    phase('sequence-length scaling');

    // ---- memory: a batch of `memoryBatch` in a fresh process per solver
    // The processes run side by side: peak RSS is per process, and the wall times are not reported as speeds.
    log(`memory check: ${profile.memorySolvers.join(', ')}, batch ${profile.memoryBatch} (separate processes)`);
    const memory = await Promise.all(
      profile.memorySolvers.map(async (solver) => {
        const strategy = solver === 'planner-depth' ? depthPlan?.strategy : undefined;
        const row = await memoryCheck(backend, solver, strategy, profile.memoryBatch, flags.checkpoint);
        progress.increment();
        return row;
      }),
    );
    phase('memory check');
    progress.stop();

    return {
      backend,
      backendDetail,
      profile,
      model: {
        source: source.name,
        hash: source.hash,
        description: describeModel(source),
        tokens: model.tokens,
        blocks: model.blocks.length,
        conditional: model.config.num_classes > 0,
        guidance: guidance ?? null,
        temperature,
      },
      sideBySide: rows,
      shared: { toughest, depthPlan, backend: given?.backend ?? backend },
      fdReal,
      batchScaling,
      tokenScaling,
      memory,
      phases,
      totalMs: performance.now() - t0,
    };
  } finally {
    progress.stop();
    model.dispose();
  }
}

// ---------------------------------------------------------------- processes

const BIN = fileURLToPath(new URL('../bin/tarflow.js', import.meta.url));

/**
 * Runs `tarflow …` in a child process. With `shareStderr` the child writes to
 * this process's stderr directly (so a worker's progress bar sees the
 * terminal); otherwise its stderr is collected for error messages.
 */
function runChild(args: string[], shareStderr = false): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', shareStderr ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/** Samples a batch in a fresh `tarflow sample` process and reads its peak RSS from the JSON report. */
async function memoryCheck(backend: string, solver: string, strategy: SamplingStrategy | undefined, batch: number, checkpoint?: string): Promise<MemoryRow> {
  // A joint plan travels as its text (its guess table is recomputed there; as JSON it could exceed the OS limit on one argument).
  const text = strategy && isJointStrategy(strategy) ? formatSamplingStrategy(strategy) : JSON.stringify(strategy ?? []);
  const how = solver === 'planner-depth' ? ['--strategy', text] : ['--solver', solver];
  const args = ['sample', '--batch', String(batch), '--chunk', String(batch), ...how, '--backend', backend, '--json', '--no-progress'];
  if (checkpoint) args.push('--checkpoint', checkpoint);
  const r = await runChild(args);
  if (r.code !== 0) return { solver, batch, maxRssBytes: NaN, wallMs: NaN, depth: NaN, ok: false, error: r.stderr.trim().split('\n').pop() };
  const out = JSON.parse(r.stdout) as { memory: { maxRssBytes: number }; wallMs: number; report: { depth: number } };
  return { solver, batch, maxRssBytes: out.memory.maxRssBytes, wallMs: out.wallMs, depth: out.report.depth, ok: out.memory.maxRssBytes < GiB };
}

// ---------------------------------------------------------------- report

/** The cells both tables share: wall, depth, speed-up, depth reduction, pass cost, mean |Δ|. */
function timingCells(x: { wallMs: number; depth: number; sequentialDepth: number; speedup: number; depthReduction: number; passCost: number; meanAbsDiff?: number }): string[] {
  return [ms(x.wallMs), `${x.depth} / ${x.sequentialDepth}`, `${x.speedup.toFixed(2)}×`, `${x.depthReduction.toFixed(1)}×`, x.passCost.toFixed(1), sci(x.meanAbsDiff)];
}

function sideBySideTable(r: WorkerResult): string {
  const withFd = r.sideBySide.some((x) => x.fd !== undefined);
  const headers = ['strategy', 'notation', 'wall (median)', 'depth', 'speed-up (wall)', 'depth reduction', 'pass cost (steps)', 'mean \\|Δ\\| vs seq', 'max \\|Δ\\|', ...(withFd ? ['FD'] : []), 'fallbacks', 'tfjs peak', 'RSS high-water'];
  const rows = r.sideBySide.map((x) => [
    x.plannedOn ? `${x.name} (planned on ${x.plannedOn})` : x.name,
    `\`${x.strategy.replace(/\|/g, '\\|')}\``,
    ...timingCells(x),
    sci(x.maxAbsDiff),
    ...(withFd ? [x.fd === undefined ? '–' : x.fd.toFixed(2)] : []),
    String(x.fallbacks),
    mib(x.tfPeakBytes),
    mib(x.maxRssBytes),
  ]);
  return markdownTable(headers, rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(withFd ? ['r' as const] : []), 'r', 'r', 'r']);
}

function scalingTable(rows: ScalingRow[], what: string): string {
  return markdownTable(
    [what, 'solver', 'wall', 'depth', 'speed-up (wall)', 'depth reduction', 'pass cost (steps)', 'mean \\|Δ\\| vs seq'],
    rows.map((x) => [
      String(x.size),
      x.solver,
      ...timingCells(x),
    ]),
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function memoryTable(rows: MemoryRow[]): string {
  return markdownTable(
    ['solver', 'batch', 'peak RSS', 'under 1 GiB', 'wall', 'depth'],
    rows.map((x) => [x.solver, String(x.batch), x.ok || Number.isFinite(x.maxRssBytes) ? mib(x.maxRssBytes) : `failed: ${x.error ?? ''}`, x.ok ? 'yes' : 'NO', Number.isFinite(x.wallMs) ? ms(x.wallMs) : '–', Number.isFinite(x.depth) ? String(x.depth) : '–']),
    ['l', 'r', 'r', 'l', 'r', 'r'],
  );
}

/** "1.2× at 1, 0.8× at 8, …" for one solver of a scaling table. */
function speedupTrend(rows: ScalingRow[], solver: string): string {
  return rows
    .filter((x) => x.solver === solver)
    .map((x) => `${x.speedup.toFixed(2)}× at ${x.size}`)
    .join(', ');
}

/** "1.7 at 1, 7.6 at 8, …" steps per pass for one solver of a scaling table. */
function passTrend(rows: ScalingRow[], solver: string): string {
  return rows
    .filter((x) => x.solver === solver)
    .map((x) => `${x.passCost.toFixed(1)} at ${x.size}`)
    .join(', ');
}

function section(r: WorkerResult): string {
  const p = r.profile;
  const seq = r.sideBySide[0];
  const others = r.sideBySide.slice(1);
  const best = others.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  const deepest = others.reduce((a, b) => (b.depthReduction > a.depthReduction ? b : a));
  const timePlan = others.find((x) => x.name.endsWith('objective time'));
  const tokensMinusOne = seq.depth / r.model.blocks;
  const jacobi = others[0];
  const passNote =
    `Here one plain-Jacobi pass costs ${jacobi.passCost.toFixed(1)} sequential steps (a block's sequential loop is ${tokensMinusOne} steps), ` +
    `so a strategy wins wall time only when it cuts the depth by more than that factor.`;
  const verdict =
    best.speedup < 1
      ? `No iterative strategy beats the sequential loop's ${ms(seq.wallMs)} in wall time on \`${r.backend}\` (the closest is ${best.name} at ${best.speedup.toFixed(2)}×), ` +
        `although ${deepest.name} cuts the depth ${deepest.depthReduction.toFixed(1)}× (${deepest.depth} instead of ${seq.depth} dependent evaluations) — the reduction a GPU turns into speed. ${passNote}`
      : `${best.name} beats the sequential loop's ${ms(seq.wallMs)} in wall time (${best.speedup.toFixed(2)}×). ${passNote} ` +
        `The largest depth reduction is ${deepest.name}'s ${deepest.depthReduction.toFixed(1)}× (depth ${deepest.depth}); check its mean and max |Δ| before taking the speed.`;
  const planning = others.filter((x) => x.planMs !== undefined);
  const batchSolvers = [...new Set(r.batchScaling.map((x) => x.solver))].filter((x) => x !== 'sequential');
  const tokenSolvers = [...new Set(r.tokenScaling.map((x) => x.solver))].filter((x) => x !== 'sequential');
  return [
    `## Backend \`${r.backend}\``,
    '',
    `Model: ${r.model.description} (file hash ${r.model.hash}). Batch ${p.batch}${r.model.conditional ? ', classes in turn' : ''}` +
      `${r.model.guidance ? `, classifier-free guidance ${r.model.guidance.scale} (the model's recommended setting; every step evaluates both branches)` : ''}` +
      `${r.model.temperature !== undefined && r.model.temperature !== 1 ? `, temperature ${r.model.temperature}` : ''}; ` +
      `wall time is the median of ${p.repeats} run${p.repeats > 1 ? 's' : ''}, after a warm-up run${r.fdReal ? ' and the FD batch' : ''}. ` +
      `The toughest block (largest CRM on ${r.shared.toughest.calibration}${r.shared.backend !== r.backend ? `, measured on ${r.shared.backend}` : ''}) is sampling index ${r.shared.toughest.samplingIndex} ` +
      `(forward ${r.shared.toughest.forwardIndex}, ${(r.shared.toughest.crmShare * 100).toFixed(0)}% of the summed CRM). ` +
      `This backend's measurements took ${ms(r.totalMs)} (${Object.entries(r.phases).filter(([, v]) => v >= 1).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}).`,
    '',
    sideBySideTable(r),
    '',
    verdict +
      (timePlan ? ` The planner's \`time\` objective, which times this backend, chose \`${timePlan.strategy}\`${timePlan.strategy === 'sequential' ? ' (so its row differs from the first only by timing noise)' : ''}.` : '') +
      (planning.length
        ? ` Planning took ${planning.map((x) => `${ms(x.planMs!)} (${x.name.replace('planner, ', '')}${x.plannedOn ? `, on ${x.plannedOn}; a depth plan does not depend on the backend, so it is reused here` : ''})`).join(' and ')}.`
        : ''),
    ...(r.fdReal
      ? ['', `FD is the Fréchet distance of the MNIST classifier's features of ${r.fdReal.count} samples per strategy to those of ${r.fdReal.reference}. With so few samples it is biased upwards — ${r.fdReal.count} real test digits score ${r.fdReal.floor.toFixed(2)} — so compare rows with each other, not with published FIDs.`]
      : []),
    '',
    `### Speed-up against batch size (same model)`,
    '',
    ...(r.batchScaling.length
      ? [
          'One timed run per row, after the runs above.',
          '',
          scalingTable(r.batchScaling, 'batch'),
          '',
          `Wall-time speed-up over the sequential loop by batch: ${batchSolvers.map((s) => `${s} ${speedupTrend(r.batchScaling, s)}`).join('; ')}. ` +
            `One pass costs, in sequential steps: ${batchSolvers.map((s) => `${s} ${passTrend(r.batchScaling, s)}`).join('; ')}. ` +
            'A single-position step is mostly per-kernel overhead, which does not grow with the batch; a pass is arithmetic, which does — so on a CPU the pass cost climbs towards the T − 1 steps of the whole loop as the batch grows, and the iterative solvers lose their edge. The depth does not depend on the batch beyond the slowest sample\'s convergence.',
        ]
      : [`Not run on \`${r.backend}\` (time budget); see the wasm section (\`--batches 1,2,4\` runs it here).`]),
    '',
    `### Speed-up against sequence length (random models)`,
    '',
    `Randomly initialised models, 4 blocks × 2 layers, 64 channels, 2×2 patches of 1-channel images of side 2·√T, batch ${p.batch}, no guidance; ` +
      `proj_out is drawn with std ${RANDOM_PROJ_OUT_STD} (TarFlow initialises it to zero, which makes every block the identity and Jacobi exact after one pass). ` +
      'Random blocks couple positions weakly, so Jacobi converges in fewer iterations than on a trained model: read these rows for how cost and depth grow with T, not for iteration counts.',
    '',
    scalingTable(r.tokenScaling, 'T'),
    '',
    `Wall-time speed-up by T: ${tokenSolvers.map((s) => `${s} ${speedupTrend(r.tokenScaling, s)}`).join('; ')}. ` +
      `One pass costs, in sequential steps: ${tokenSolvers.map((s) => `${s} ${passTrend(r.tokenScaling, s)}`).join('; ')} — growing with T, as a pass covers T − 1 positions (a GS module fewer).`,
    '',
    `### Memory: a batch of ${p.memoryBatch} from the ${r.model.source === 'default' ? 'default model' : 'model'}`,
    '',
    ...(r.memory.length
      ? [
          'Each row is a fresh `tarflow sample --batch ' + p.memoryBatch + ' --chunk ' + p.memoryBatch + ' --json` process (one model call for the whole batch' +
            (r.model.source === 'default' ? ", with the model's recommended guidance and its denoising step, taken 8 samples at a time" : '') +
            '); peak RSS is its `process.resourceUsage().maxRSS`.',
          '',
          memoryTable(r.memory),
        ]
      : [`Not run on \`${r.backend}\`: a batch of ${p.memoryBatch} takes minutes on this backend; see the wasm section (\`--memory-solvers sequential\` runs it here).`]),
  ].join('\n');
}

function markdown(results: WorkerResult[], started: Date, load: number[]): string {
  const cpu = cpus();
  return [
    '# Benchmarks',
    '',
    `Written by \`pnpm bench\` (\`tarflow bench\`) on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
      `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.versions.node}, tfjs ${tf.version.tfjs}. ` +
      `Load average at the start ${load.map((x) => x.toFixed(1)).join(' / ')} — the machine is shared, so wall times carry noise; depth does not.`,
    '',
    '## How to read this',
    '',
    '- **Depth** is the number of dependent network evaluations: T − 1 per block for the sequential sampler, one per Jacobi iteration. ' +
      'It is what a GPU turns into time, because there one parallel pass over all positions costs about as much as one single-position step.',
    '- **On a CPU it is not.** A Jacobi pass evaluates all T − 1 positions of a block: the same arithmetic as the whole sequential KV-cache loop over that block, ' +
      'which evaluates each position once. Where arithmetic dominates, a pass costs about as much as the whole sequential loop, and since Jacobi needs several passes, ' +
      'wall time cannot beat the sequential loop whatever the depth. tfjs adds a fixed cost per kernel, though, which dominates a single-position step at small batches, ' +
      'so on this machine a pass costs far fewer steps than T − 1 at batch 1 and climbs towards it as the batch (or T) grows. ' +
      'The **pass cost** column measures it: the wall time of one dependent evaluation in units of one sequential step. A strategy wins wall time exactly when its depth reduction exceeds its pass cost; ' +
      'on a GPU the pass cost is near 1, so the depth reduction is the speed-up. The planner\'s `time` objective times the backend it runs on and plans for it.',
    '- **Mean |Δ|** compares each strategy\'s images with the sequential sampler\'s from the same noise and labels (pixel range [-1, 1]).',
    '- Plain Jacobi runs to max|Δ| ≤ 1e-4 (at most T − 1 iterations); the hand strategy is paper-style `[Stack-GS-J-Else]`: GS-Jacobi with 4 modules on the block with the largest CRM, plain Jacobi capped at 10 iterations elsewhere, all stopping at the same tolerance.',
    '',
    ...results.flatMap((r) => [section(r), '']),
    '## Reproduce',
    '',
    '```sh',
    'pnpm build && pnpm bench            # wasm and cpu; writes docs/benchmarks.md and docs/benchmarks.json (re-run when the default model changes)',
    'pnpm tarflow bench --backends wasm --batch 16 --out /tmp/b.md   # one backend, other sizes',
    '```',
    '',
  ].join('\n');
}

/**
 * Everything from this line to the end of an existing report survives a
 * re-run: measurements bench cannot make here (e.g. scripts/gpu-bench.sh on a
 * GPU machine) are recorded below it.
 */
export const KEPT_MARKER = '<!-- kept by tarflow bench: everything below this line survives a re-run -->';

/** The new report, followed by the kept part of the file it replaces (if any). */
async function withKeptPart(out: string, report: string): Promise<string> {
  let old: string;
  try {
    old = await readFile(out, 'utf8');
  } catch {
    return report;
  }
  const at = old.indexOf(KEPT_MARKER);
  return at < 0 ? report : `${report.trimEnd()}\n\n${old.slice(at)}`;
}

/** Writes the markdown report (and the JSON) of finished measurements. */
async function writeReport(flags: BenchFlags, results: WorkerResult[], started: Date, load: number[]): Promise<string> {
  const jsonOut = flags.jsonOut ?? flags.out.replace(/\.md$/i, '.json');
  await writeOutput(flags.out, new TextEncoder().encode(await withKeptPart(flags.out, markdown(results, started, load))));
  // A joint plan's guess table (hundreds of KB as JSON) is summarised: the report needs its shape, not its values.
  const slim = (key: string, value: unknown) =>
    key === 'table' && value !== null && typeof value === 'object' && Array.isArray((value as { data?: unknown }).data)
      ? { rows: (value as GuessTable).rows, tokens: (value as GuessTable).tokens, dim: (value as GuessTable).dim, values: 'omitted' }
      : value;
  await writeOutput(jsonOut, new TextEncoder().encode(`${JSON.stringify({ started: started.toISOString(), loadavg: load, results }, slim, 2)}\n`));
  return jsonOut;
}

export async function benchCommand(flags: BenchFlags): Promise<void> {
  if (!flags.workerBackend && !flags.out.toLowerCase().endsWith('.md')) {
    throw new UsageError(`--out ${flags.out}: the report is markdown; the file name must end in .md`);
  }
  if (flags.render) {
    // Re-render the report of saved measurements (e.g. after changing its wording), measuring nothing.
    let saved: { started: string; loadavg: number[]; results: WorkerResult[] };
    try {
      saved = JSON.parse(await readFile(flags.render, 'utf8'));
    } catch (e) {
      throw new CliError(`--render ${flags.render}: ${messageOf(e)}`);
    }
    const md = await withKeptPart(flags.out, markdown(saved.results, new Date(saved.started), saved.loadavg));
    await writeOutput(flags.out, new TextEncoder().encode(md));
    emit(flags, { command: 'bench', out: resolve(flags.out) }, () => `wrote ${flags.out} from ${flags.render}`);
    return;
  }
  if (flags.workerBackend) {
    const result = await runWorker(flags.workerBackend, flags);
    if (!flags.workerOut) throw new UsageError('--worker-backend needs --worker-out');
    await writeFile(flags.workerOut, JSON.stringify(result));
    return;
  }
  const backends = flags.backends.split(',').map((s) => s.trim());
  for (const b of backends) {
    if (b !== 'webgpu' && b !== 'wasm' && b !== 'cpu') throw new UsageError(`--backends: unknown backend '${b}' (expected webgpu, wasm or cpu)`);
  }
  const started = new Date();
  const load = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'tarflow-bench-'));
  const results: WorkerResult[] = [];
  try {
    for (const b of backends) {
      const file = join(dir, `${b}.json`);
      const args = ['bench', '--worker-backend', b, '--worker-out', file, '--out', flags.out];
      if (flags.checkpoint) args.push('--checkpoint', flags.checkpoint);
      if (flags.quick) args.push('--quick');
      if (flags.progress === true) args.push('--progress');
      if (flags.progress === false) args.push('--no-progress');
      if (results.length > 0) {
        const sharedFile = join(dir, 'shared.json');
        await writeFile(sharedFile, JSON.stringify(results[0].shared));
        args.push('--shared', sharedFile);
      }
      const passed = [
        ['repeats', '--repeats'], ['batch', '--batch'], ['batches', '--batches'], ['tokens', '--tokens'],
        ['fdCount', '--fd-count'], ['memoryBatch', '--memory-batch'], ['memorySolvers', '--memory-solvers'],
      ] as const;
      for (const [key, flag] of passed) {
        if (flags[key] !== undefined) args.push(flag, String(flags[key]));
      }
      note(`bench: measuring on ${b} (a separate process)`);
      const r = await runChild(args, true);
      if (r.code !== 0) throw new CliError(`bench worker for ${b} failed (exit ${r.code}; its error is above)`);
      results.push(JSON.parse(await readFile(file, 'utf8')) as WorkerResult);
    }
  } catch (e) {
    throw e instanceof CliError ? e : new CliError(messageOf(e));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const jsonOut = await writeReport(flags, results, started, load);
  emit(flags, { command: 'bench', out: resolve(flags.out), json: resolve(jsonOut), results }, () => {
    const lines = [`wrote ${flags.out} and ${jsonOut}`];
    for (const r of results) {
      lines.push(`${r.backend}:`);
      for (const x of r.sideBySide) {
        lines.push(`  ${x.name.padEnd(40)} ${ms(x.wallMs).padStart(8)}  depth ${String(x.depth).padStart(4)}/${x.sequentialDepth}  speed-up ${x.speedup.toFixed(2)}×  depth ÷${x.depthReduction.toFixed(1)}  mean|Δ| ${sci(x.meanAbsDiff)}${x.fd !== undefined ? `  FD ${x.fd.toFixed(2)}` : ''}`);
      }
      for (const m of r.memory) lines.push(`  memory ${m.solver} batch ${m.batch}: ${Number.isFinite(m.maxRssBytes) ? mib(m.maxRssBytes) : 'failed'} (${m.ok ? 'under' : 'NOT under'} 1 GiB)`);
    }
    return lines.join('\n');
  });
}
