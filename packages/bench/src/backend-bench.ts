/**
 * One backend's run of `tarflow bench`: the solvers side by side on one
 * model — sequential, plain Jacobi, the paper-style hand strategy and the
 * planner's two objectives — with wall time, depth, speed-up, pass cost,
 * mean |Δ| against the exact sampler, FD and peak memory; then how the
 * speed-up scales with batch size (same model) and with sequence length
 * (random models), and a memory check of a large batch (run by the caller,
 * in fresh processes).
 */
import { seededNoise, tf, tfSeed, type ImageBatch } from '@tarflow/tensor';
import { TarFlow, type TarFlowConfig } from '@tarflow/model';
import { formatStrategy, sequentialStrategy, type GuessTable, type SamplingStrategy, type Strategy } from '@tarflow/solvers';
import { featureStats, frechetFromStats, handStrategy, planStrategy, toughestBlock, type Objective } from '@tarflow/metrics';
import { cycleLabels, meanMaxDiff, median, passCost, peakRssBytes, timeStrategy, watchTensorBytes, type SamplingSettings, type TimedRuns } from './measure.js';
import { isMnistShaped, mnistFrechet, mnistTestDigits } from './mnist.js';
import { sci } from './format.js';
import type { Profile } from './profiles.js';
import type { BackendResult, MemoryRow, ScalingRow, SharedMeasurements, SideBySideRow } from './results.js';

/** Std of the random proj_out weights of the sequence-length models. */
export const RANDOM_PROJ_OUT_STD = 0.02;

/** Progress of a run: a bar of `total` steps and a status line. */
export interface BenchProgress {
  start(label: string, total: number): void;
  increment(): void;
  status(message: string): void;
  stop(): void;
}

export interface BackendBenchOptions {
  backend: string;
  backendDetail: string;
  profile: Profile;
  /** The model (not disposed here) and what the report says about it. */
  model: TarFlow;
  modelInfo: { source: string; hash: string; description: string };
  /** How every run samples the model (guidance, temperature). */
  settings: SamplingSettings;
  /** Early-stop tolerance of the Jacobi strategies. */
  tolerance: number;
  /** Measurements of an earlier backend's run to reuse (the toughest block, the depth plan). */
  shared?: SharedMeasurements | null;
  /** Samples `batch` with `solver` (or `strategy`, for 'planner-depth') in a fresh process: one memory-check row. */
  memoryCheck?: (solver: string, strategy: SamplingStrategy | undefined, batch: number) => Promise<MemoryRow>;
  progress?: BenchProgress;
  /** performance.now() when the run began (for totalMs; default: now). */
  startedAt?: number;
}

const quiet: BenchProgress = { start: () => undefined, increment: () => undefined, status: () => undefined, stop: () => undefined };

export function sequentialEverywhere(model: TarFlow): Strategy {
  return sequentialStrategy(model.blocks.length);
}

export function jacobiEverywhere(model: TarFlow, tolerance: number): Strategy {
  return model.blocks.map(() => ({ kind: 'jacobi' as const, modules: 1, maxIterations: model.tokens - 1, tolerance }));
}

/** A randomly initialised model with T tokens whose proj_out is random too, so that no block is the identity. */
export function randomModel(tokens: number, seed: number): TarFlow {
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
    w.assign(tf.randomNormal(w.shape, 0, RANDOM_PROJ_OUT_STD, 'float32', tfSeed(seed * 100 + i)));
  });
  return model;
}

/** A scaling-table row of `solver` against the sequential run `seq` of the same size. */
function scalingRow(label: string, size: number, solver: string, r: TimedRuns, seq: TimedRuns): ScalingRow {
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

/** The toughest block on MNIST test digits for MNIST-shaped models, else on exact samples of `noise`. */
function findToughest(model: TarFlow, noise: tf.Tensor3D, labels: tf.Tensor1D | undefined, settings: SamplingSettings): SharedMeasurements['toughest'] {
  const mnist = isMnistShaped(model);
  const calibration: ImageBatch = mnist ? mnistTestDigits(64) : model.sample(noise, { labels, ...settings }).images;
  const calibrationText = mnist ? `${calibration.shape[0]} MNIST test digits` : `${noise.shape[0]} exact samples`;
  const tough = toughestBlock(model, calibration);
  calibration.dispose();
  return { ...tough, calibration: calibrationText };
}

/** Measures one backend (already active) on `o.model`. */
export async function benchBackend(o: BackendBenchOptions): Promise<BackendResult> {
  const t0 = o.startedAt ?? performance.now();
  const { model, profile, settings, tolerance, backend } = o;
  const progress = o.progress ?? quiet;
  const bytes = watchTensorBytes();
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = now - phaseStart;
    phaseStart = now;
  };
  const B = profile.batch;
  const drawNoise = (seed: number, count: number) => seededNoise(seed, Array.from({ length: count }, (_, i) => i), model.tokens, model.patchDim);
  const log = (m: string) => progress.status(`${backend}: ${m}`);
  progress.start(`bench ${backend}`, 5 + profile.batches.length * 3 + profile.tokens.length * 3 + profile.memorySolvers.length);
  try {
    const noise = drawNoise(0, B);
    const labels = cycleLabels(model, B);
    const given = o.shared ?? null;
    if (!given) log('CRM of each block');
    const toughest = given?.toughest ?? findToughest(model, noise, labels, settings);
    const withFd = profile.fdCount > 0 && isMnistShaped(model);
    if (withFd) progress.status('FD: classifier features of real MNIST test digits');
    const fd = withFd ? await mnistFrechet(profile.fdCount) : null;
    const fdNoise = fd ? drawNoise(1, profile.fdCount) : null;
    const fdLabels = fd ? cycleLabels(model, profile.fdCount) : undefined;
    log('warm-up');
    model.sample(noise, { labels, ...settings }).images.dispose();
    phase('setup');

    // ---- side by side
    const reusedPlan = given?.depthPlan ?? null;
    const candidates: Array<{ name: string; strategy?: SamplingStrategy; guessTable?: GuessTable; objective?: Objective }> = [
      { name: 'sequential', strategy: sequentialEverywhere(model) },
      { name: `Jacobi (tol ${sci(tolerance, 0)})`, strategy: jacobiEverywhere(model, tolerance) },
      { name: 'hand: GS-Jacobi on the toughest block', strategy: handStrategy(model, toughest.samplingIndex, tolerance) },
      { name: 'planner, objective depth', ...(reusedPlan ? { strategy: reusedPlan.strategy, guessTable: reusedPlan.guessTable } : { objective: 'depth' as const }) },
      { name: 'planner, objective time', objective: 'time' },
    ];
    const rows: SideBySideRow[] = [];
    let reference: ImageBatch | null = null;
    let depthPlan: SharedMeasurements['depthPlan'] = reusedPlan;
    for (const c of candidates) {
      let strategy = c.strategy!;
      let guessTable = c.guessTable;
      let planMs: number | undefined;
      let plannedOn: string | undefined;
      if (c.objective) {
        log(`planning (objective ${c.objective})`);
        const p0 = performance.now();
        const plan = planStrategy(model, { objective: c.objective, batch: B, guidance: settings.guidance, temperature: settings.temperature, seed: 1234 });
        strategy = plan.strategy;
        guessTable = plan.guessTable;
        planMs = performance.now() - p0;
        if (c.objective === 'depth') depthPlan = { strategy, ...(guessTable ? { guessTable } : {}), planMs, batch: B };
      } else if (reusedPlan && c.strategy === reusedPlan.strategy) {
        planMs = reusedPlan.planMs;
        plannedOn = given!.backend;
      }
      let fdValue: number | undefined;
      if (fd && fdNoise) {
        log(`FD of ${c.name} (${profile.fdCount} samples)`);
        const s = model.sample(fdNoise, { labels: fdLabels, strategy, guessTable, ...settings }).images;
        fdValue = frechetFromStats(featureStats(s, fd.features), fd.real);
        s.dispose();
      }
      log(`timing ${c.name}`);
      bytes.reset();
      const t = timeStrategy(model, noise, labels, strategy, { runs: profile.repeats, guessTable, ...settings });
      if (!reference) reference = tf.keep(tf.clone(t.images));
      const diff = meanMaxDiff(t.images, reference);
      t.images.dispose();
      const wall = median(t.times);
      rows.push({
        name: c.name,
        strategy: formatStrategy(strategy, { compact: true }),
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
        maxRssBytes: peakRssBytes(),
        planMs,
        plannedOn,
      });
      progress.increment();
    }
    reference?.dispose();
    tf.dispose([noise, ...(labels ? [labels] : []), ...(fdNoise ? [fdNoise] : []), ...(fdLabels ? [fdLabels] : [])]);
    const fdReal = fd ? { count: profile.fdCount, floor: fd.floor, reference: fd.reference } : undefined;
    fd?.dispose();
    phase('side by side');

    // ---- speed-up against batch size (same model); one timed run per row
    const once = { runs: 1 };
    const batchScaling: ScalingRow[] = [];
    const solvers: Array<{ solver: string; strategy: SamplingStrategy; guessTable?: GuessTable }> = [
      { solver: 'jacobi', strategy: jacobiEverywhere(model, tolerance) },
      ...(depthPlan ? [{ solver: 'planner (depth)', strategy: depthPlan.strategy, guessTable: depthPlan.guessTable }] : []),
    ];
    for (const b of profile.batches) {
      log(`batch ${b}`);
      const n = drawNoise(0, b);
      const l = cycleLabels(model, b);
      const seq = timeStrategy(model, n, l, sequentialEverywhere(model), { ...once, ...settings });
      batchScaling.push(scalingRow('batch', b, 'sequential', seq, seq));
      progress.increment();
      for (const s of solvers) {
        const r = timeStrategy(model, n, l, s.strategy, { ...once, guessTable: s.guessTable, ...settings });
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
      const gs: Strategy = m.blocks.map(() => ({ kind: 'jacobi', modules: G, maxIterations: Math.ceil((T - 1) / G), tolerance }));
      for (const s of [
        { solver: 'jacobi', strategy: jacobiEverywhere(m, tolerance) },
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
    const memorySolvers = o.memoryCheck ? profile.memorySolvers : [];
    log(`memory check: ${memorySolvers.join(', ')}, batch ${profile.memoryBatch} (separate processes)`);
    const memory = await Promise.all(
      memorySolvers.map(async (solver) => {
        const strategy = solver === 'planner-depth' ? depthPlan?.strategy : undefined;
        const row = await o.memoryCheck!(solver, strategy, profile.memoryBatch);
        progress.increment();
        return row;
      }),
    );
    phase('memory check');
    progress.stop();

    return {
      backend,
      backendDetail: o.backendDetail,
      profile,
      model: {
        ...o.modelInfo,
        tokens: model.tokens,
        blocks: model.blocks.length,
        conditional: model.config.num_classes > 0,
        guidance: settings.guidance ?? null,
        temperature: settings.temperature ?? 1,
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
    bytes.stop();
  }
}
