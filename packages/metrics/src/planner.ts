/**
 * The strategy planner. The paper picks GS-Jacobi strategies by hand from
 * its metrics; here they are chosen automatically:
 *
 * 1. Pass a calibration batch forward for CRM and IGM. Each block starts from
 *    the initial guess with the lower IGM; blocks whose CRM share is dominant
 *    ("tough" blocks) are candidates for a split into G modules.
 * 2. Solve a calibration batch exactly, block by block, recording each block's
 *    input and exact output. For a tolerance ε (loosest first) try each
 *    candidate solver on each block and measure its depth (dependent network
 *    evaluations) — and, for the `time` objective, its predicted wall time from
 *    a cost model timed on the running backend, against the sequential loop.
 * 3. Keep, per block, the candidate that is best for the objective, run the
 *    whole strategy on the calibration batch, and accept the loosest ε whose
 *    samples stay within the quality target of the exact ones — for a batch of
 *    the planned size, allowing for the uncertainty of both batches: the
 *    calibration mean |Δ| plus two standard errors of their difference.
 * 4. Also try the joint solve of all blocks (every block iterating at once) and
 *    keep it where it beats the per-block plan.
 */
import { tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import type { GuidanceSettings, TarFlow } from '@tarflow/model';
import {
  formatSamplingStrategy,
  formatStrategy,
  moduleBounds,
  solveBlock,
  type BlockStrategy,
  type InitialGuess,
  type JacobiStrategy,
  type JointStrategy,
  type SamplingStrategy,
  type Strategy,
} from '@tarflow/solvers';
import { classMeanGuess } from './guess.js';
import { convergenceMetrics, type ConvergenceMetrics } from './convergence.js';
import { calibrateCost, passMs, sequentialBlockMs, type CostModel } from './cost.js';

export type Objective = 'time' | 'depth';

/** The planner's calibrated defaults (see docs/planner.md for how they were measured). */
export const PLANNER_DEFAULTS = {
  /** Mean |Δ| against the sequential sampler that counts as quality parity. */
  targetMeanAbsDiff: 0.01,
  /**
   * A plan passes when the calibration batch's mean |Δ| plus `confidence`
   * prediction errors is within the target: σ·√(1/n + 1/B), with σ the spread
   * of the calibration samples' own mean |Δ|, n their number and B the batch
   * the plan is for — a one-sided bound on the mean |Δ| of a batch the planner
   * never saw. A few badly converged samples widen σ, so such plans are refused.
   */
  confidence: 2,
  /**
   * Largest single-pixel |Δ| allowed (images in [−1, 1]); off by default — on
   * the shipped model the pixel maximum did not predict the Fréchet distance
   * (docs/planner.md). Set it to demand that every pixel be close.
   */
  targetMaxAbsDiff: Infinity,
  /** Calibration samples (by default at least the batch). */
  calibration: 32,
  /** Residual tolerances tried, loosest first. */
  tolerances: [1, 3e-1, 1e-1, 5e-2, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
  /** Module counts tried for tough blocks. */
  modules: [1, 2, 4, 8],
  /** A block is tough when its CRM share is at least this multiple of the average share. */
  toughFactor: 1.5,
  /** Each trimming step cuts a block's iteration budget to this fraction (at least by one). */
  trimFactor: 0.7,
  batch: 16,
};

export interface PlanOptions {
  objective?: Objective;
  /** Batch size the plan is for (and the calibration batch size). */
  batch?: number;
  /** Labels [batch] (cycled over the calibration samples); default: classes in turn for a conditional model. */
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  /** Sampling temperature the plan is for (default 1; see TarFlow.sample). */
  temperature?: number;
  /** Images for CRM/IGM; default: the exact calibration samples themselves. */
  calibrationImages?: ImageBatch;
  /** Cost model for the `time` objective; timed on the current backend if absent. */
  cost?: CostModel;
  seed?: number;
  targetMeanAbsDiff?: number;
  targetMaxAbsDiff?: number;
  /** Prediction errors added to the calibration mean |Δ| before comparing with the target (default 2). */
  confidence?: number;
  /** Calibration samples (default: 32, or the batch if larger); the acceptance bound allows for their number. */
  calibration?: number;
  tolerances?: number[];
  modules?: number[];
  toughFactor?: number;
  /** Trim per-block iteration budgets greedily while the quality target holds (default true). */
  trim?: boolean;
  /** Also consider the joint solve of all blocks (default true). */
  joint?: boolean;
  /** Calibration samples per class for the joint solve's class-mean guess (default 8). */
  guessPerClass?: number;
  onProgress?: (message: string) => void;
}

export interface BlockPlan {
  samplingIndex: number;
  forwardIndex: number;
  choice: string;
  reason: string;
  depth: number;
  predictedMs?: number;
  crmShare?: number;
  tough: boolean;
  guess: InitialGuess | 'table';
}

export interface Plan {
  objective: Objective;
  /** Per-block strategies, or one joint solve of all blocks. */
  strategy: SamplingStrategy;
  text: string;
  tolerance: number | null;
  blocks: BlockPlan[];
  predicted: {
    depth: number;
    sequentialDepth: number;
    ms?: number;
    sequentialMs?: number;
    /** Mean |Δ| of the plan against the exact sampler on the calibration batch. */
    meanAbsDiff: number;
    /** meanAbsDiff plus `confidence` prediction errors for a batch of the planned size: what the target is checked against. */
    meanAbsDiffBound: number;
    maxAbsDiff: number;
  };
  /** The CRM/IGM the plan was made from (absent when the cost model alone decided). */
  metrics?: ConvergenceMetrics;
  cost?: CostModel;
}

/** Mean |Δ| of a batch against the exact samples, its standard error over the samples, and the largest pixel |Δ|. */
interface Quality {
  mean: number;
  se: number;
  max: number;
}

/**
 * Quality of `images` against the exact `reference`; `se` is the standard
 * error of the difference between this batch's mean |Δ| and that of another
 * batch of `batch` samples: σ·√(1/n + 1/batch).
 */
function compare(images: ImageBatch, reference: ImageBatch, batch: number): Quality {
  return tf.tidy(() => {
    const d = tf.abs(tf.sub(images, reference));
    const perSample = tf.mean(d, [1, 2, 3]);
    const n = perSample.shape[0];
    const { mean, variance } = tf.moments(perSample);
    const sigma = n > 1 ? Math.sqrt((variance.dataSync()[0] * n) / (n - 1)) : Infinity;
    return { mean: mean.dataSync()[0], se: sigma * Math.sqrt(1 / n + 1 / batch), max: tf.max(d).dataSync()[0] };
  }) as unknown as Quality;
}

interface Candidate {
  strategy: BlockStrategy;
  depth: number;
  ms?: number;
  label: string;
}

function jacobiLabel(s: JacobiStrategy): string {
  return s.modules === 1 ? `jacobi (${s.guess} guess)` : `gs-jacobi G=${s.modules} (${s.guess} guess)`;
}

/** Predicted ms of a Jacobi solve from its per-module iteration counts. */
function predictJacobiMs(cost: CostModel, tokens: number, s: JacobiStrategy, iterations: number[]): number {
  const bounds = moduleBounds(tokens, s.modules);
  let ms = 0;
  let cached = 0;
  bounds.forEach(([a, b], m) => {
    for (let it = 1; it <= iterations[m]; it++) {
      const span = b - (it === 1 ? cached : a);
      ms += passMs(cost, Math.max(1, span));
    }
    cached = a;
  });
  return ms;
}

/** Chooses a per-block strategy for the model; see the module comment for the method. */
export function planStrategy(model: TarFlow, options: PlanOptions = {}): Plan {
  const objective = options.objective ?? 'time';
  if (objective !== 'time' && objective !== 'depth') throw new Error(`unknown planner objective '${objective}' (expected 'time' or 'depth')`);
  const B = options.batch ?? PLANNER_DEFAULTS.batch;
  const T = model.tokens;
  const D = model.patchDim;
  const nBlocks = model.blocks.length;
  const target = options.targetMeanAbsDiff ?? PLANNER_DEFAULTS.targetMeanAbsDiff;
  const targetMax = options.targetMaxAbsDiff ?? PLANNER_DEFAULTS.targetMaxAbsDiff;
  const confidence = options.confidence ?? PLANNER_DEFAULTS.confidence;
  const N = options.calibration ?? Math.max(PLANNER_DEFAULTS.calibration, B);
  const tolerances = options.tolerances ?? PLANNER_DEFAULTS.tolerances;
  const moduleCounts = options.modules ?? PLANNER_DEFAULTS.modules;
  const toughFactor = options.toughFactor ?? PLANNER_DEFAULTS.toughFactor;
  const progress = options.onProgress ?? (() => {});
  const K = model.config.num_classes;

  // For the time objective, first ask the cost model whether any Jacobi
  // strategy could beat the sequential loop at all: even one iteration per
  // module costs at least Σ pass(module size). Where that already loses (a CPU:
  // a pass over n positions costs about n steps), no calibration is needed.
  let cost = options.cost;
  if (objective === 'time') {
    if (!cost) {
      progress('timing the backend');
      const sizes = new Set<number>([1, T - 1]);
      for (const G of moduleCounts) for (const [a, b] of moduleBounds(T, G)) sizes.add(b - a + 1).add(Math.min(T - 1, b - a + 2));
      cost = calibrateCost(model, { batch: B, labels: options.labels, guidance: options.guidance, sizes: [...sizes] });
    }
    const seqMs = sequentialBlockMs(cost, T);
    const bestLowerBound = Math.min(
      ...moduleCounts.map((G) => moduleBounds(T, G).reduce((sum, [a, b]) => sum + passMs(cost!, b - a + 1), 0)),
    );
    if (bestLowerBound >= seqMs) {
      const reason =
        `on ${cost.backend} one parallel pass over the block costs at least ${bestLowerBound.toFixed(1)} ms ` +
        `(even a single Jacobi iteration), the whole sequential loop ${seqMs.toFixed(1)} ms: sequential is fastest`;
      return {
        objective,
        strategy: model.blocks.map(() => ({ kind: 'sequential' as const })),
        text: formatStrategy(model.blocks.map(() => ({ kind: 'sequential' as const }))),
        tolerance: null,
        blocks: model.blocks.map((_, k) => ({
          samplingIndex: k,
          forwardIndex: nBlocks - 1 - k,
          choice: 'sequential',
          reason,
          depth: T - 1,
          predictedMs: seqMs,
          tough: false,
          guess: 'noise' as const,
        })),
        predicted: { depth: nBlocks * (T - 1), sequentialDepth: nBlocks * (T - 1), ms: nBlocks * seqMs, sequentialMs: nBlocks * seqMs, meanAbsDiff: 0, meanAbsDiffBound: 0, maxAbsDiff: 0 },
        cost,
      };
    }
  }

  const owned: tf.Tensor[] = [];
  try {
    const given = options.labels;
    const labels = given
      ? (tf.gather(given, tf.tensor1d(Array.from({ length: N }, (_, i) => i % given.shape[0]), 'int32')) as tf.Tensor1D)
      : K > 0
        ? tf.tensor1d(Array.from({ length: N }, (_, i) => i % K), 'int32')
        : undefined;
    if (labels) owned.push(labels);
    const noise = tf.randomNormal([N, T, D], 0, 1, 'float32', options.seed ?? 1234) as PatchSeq;
    owned.push(noise);

    // Exact calibration pass, block by block (sampling order).
    progress('exact calibration pass');
    const inputs: PatchSeq[] = [];
    const temperature = options.temperature ?? 1;
    let x = tf.tidy(() => tf.mul(tf.mul(noise, tf.sqrt(model.priorVar)), temperature)) as PatchSeq;
    for (let k = 0; k < nBlocks; k++) {
      const index = nBlocks - 1 - k;
      const zp = model.permuteForBlock(index, x);
      const r = solveBlock(model.samplingMap(index, labels, options.guidance), zp, { kind: 'sequential' });
      inputs.push(zp);
      owned.push(zp, r.x);
      x.dispose();
      x = model.permuteForBlock(index, r.x);
    }
    const reference = model.unpatchify(x);
    x.dispose();
    owned.push(reference);

    progress('CRM and IGM');
    const metrics = convergenceMetrics(model, options.calibrationImages ?? reference);
    const avgShare = 1 / nBlocks;
    const bySampling = [...metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex);

    /** Runs a whole strategy on the calibration batch against the exact samples. */
    const evaluate = (strategy: Strategy) => {
      const r = model.sample(noise, { labels, guidance: options.guidance, strategy, temperature });
      const q = compare(r.images, reference, B);
      r.images.dispose();
      return { ...q, depth: r.report.depth, depths: r.report.blocks.map((b) => b.depth) };
    };

    /** Quality parity on the calibration batch, with its uncertainty. */
    const passes = (e: Quality) => e.mean + confidence * e.se <= target && e.max <= targetMax;

    let accepted: { strategy: Strategy; blocks: BlockPlan[]; tol: number; mean: number; se: number; max: number } | null = null;
    for (const tol of tolerances) {
      progress(`trying tolerance ${tol}`);
      const blocks: BlockPlan[] = [];
      const strategy: Strategy = [];
      for (let k = 0; k < nBlocks; k++) {
        const m = bySampling[k];
        const index = m.forwardIndex;
        const guess: InitialGuess = m.igm[1] < m.igm[0] ? 'zeros' : 'noise';
        const tough = m.crmShare >= toughFactor * avgShare;
        const map = model.samplingMap(index, labels, options.guidance);
        const candidates: Candidate[] = [];
        if (objective === 'time') {
          candidates.push({ strategy: { kind: 'sequential' }, depth: T - 1, ms: sequentialBlockMs(cost!, T), label: 'sequential' });
        }
        for (const G of tough ? moduleCounts : [1]) {
          const probe: JacobiStrategy = { kind: 'jacobi', modules: G, maxIterations: T, tolerance: tol, guess };
          const r = solveBlock(map, inputs[k], probe);
          r.x.dispose();
          const iterations = r.report.modules.map((mm) => mm.iterations);
          const bounds = moduleBounds(T, G);
          const budget = Math.max(...bounds.map(([a, b], i) => Math.min(b - a + 1, iterations[i])));
          const s: JacobiStrategy = { kind: 'jacobi', modules: G, maxIterations: budget, tolerance: tol, guess };
          candidates.push({
            strategy: s,
            depth: r.report.depth,
            ms: cost ? predictJacobiMs(cost, T, s, iterations) : undefined,
            label: jacobiLabel(s),
          });
        }
        const score = (c: Candidate) => (objective === 'time' ? c.ms! : c.depth);
        const best = candidates.reduce((a, c) => (score(c) < score(a) ? c : a));
        const why =
          `CRM share ${(m.crmShare * 100).toFixed(1)}%${tough ? ' (tough)' : ''}; IGM noise ${m.igm[0].toPrecision(3)} vs zeros ${m.igm[1].toPrecision(3)}; ` +
          candidates.map((c) => `${c.label}: depth ${c.depth}${c.ms !== undefined ? `, ~${c.ms.toFixed(1)} ms` : ''}`).join('; ');
        strategy.push(best.strategy);
        blocks.push({
          samplingIndex: k,
          forwardIndex: index,
          choice: best.label,
          reason: why,
          depth: best.depth,
          predictedMs: best.ms,
          crmShare: m.crmShare,
          tough,
          guess,
        });
      }
      const e = evaluate(strategy);
      blocks.forEach((b, k) => (b.depth = e.depths[k]));
      progress(`tolerance ${tol}: depth ${e.depth}, mean |Δ| ${e.mean.toExponential(2)}`);
      accepted = { strategy, blocks, tol, mean: e.mean, se: e.se, max: e.max };
      if (passes(e)) break;
    }

    // Trim iteration budgets greedily — the deepest block first — keeping
    // every cut whose end-to-end result still meets the target.
    if (accepted && passes(accepted) && (options.trim ?? true)) {
      const frozen = new Set<number>();
      const fine = new Set<number>(); // blocks whose large cut failed: cut by one from now on
      for (;;) {
        const order = accepted.blocks
          .map((b, k) => ({ k, depth: b.depth }))
          .filter(({ k }) => accepted!.strategy[k].kind === 'jacobi' && !frozen.has(k))
          .sort((a, b) => b.depth - a.depth);
        let cut = false;
        for (const { k } of order) {
          const s = accepted.strategy[k] as JacobiStrategy;
          // A cut to trimFactor of the budget first; where that fails, a cut by one.
          const big = Math.min(s.maxIterations - 1, Math.floor(s.maxIterations * PLANNER_DEFAULTS.trimFactor));
          const budget = !fine.has(k) ? big : s.maxIterations - 1;
          if (budget < 1) {
            frozen.add(k);
            continue;
          }
          const trial = accepted.strategy.map((b, i) => (i === k ? { ...s, maxIterations: budget } : b));
          const e = evaluate(trial);
          progress(`block ${k}: budget ${s.maxIterations} → ${budget}: depth ${e.depth}, mean |Δ| ${e.mean.toExponential(2)}`);
          if (!passes(e) && !fine.has(k) && budget < s.maxIterations - 1) {
            fine.add(k); // try the smaller cut before giving up on this block
            cut = true;
            break;
          }
          if (passes(e)) {
            accepted.strategy = trial;
            accepted.mean = e.mean;
            accepted.se = e.se;
            accepted.max = e.max;
            accepted.blocks.forEach((b, i) => (b.depth = e.depths[i]));
            const blk = accepted.blocks[k];
            blk.choice = jacobiLabel(trial[k] as JacobiStrategy) + `, ≤${budget} iterations per module`;
            if (cost) blk.predictedMs = predictJacobiMs(cost, T, trial[k] as JacobiStrategy, moduleBounds(T, (trial[k] as JacobiStrategy).modules).map(() => budget));
            cut = true;
            break;
          }
          frozen.add(k);
        }
        if (!cut) break;
      }
      for (const b of accepted.blocks) {
        const s = accepted.strategy[b.samplingIndex];
        if (s.kind === 'jacobi') b.reason += `; budget ${s.maxIterations} iteration(s) per module after trimming`;
      }
    }
    if (!accepted || !passes(accepted)) {
      // Nothing met the target: fall back to the exact sampler.
      const strategy: Strategy = model.blocks.map(() => ({ kind: 'sequential' }));
      accepted = {
        strategy,
        tol: 0,
        mean: 0,
        se: 0,
        max: 0,
        blocks: bySampling.map((m, k) => ({
          samplingIndex: k,
          forwardIndex: m.forwardIndex,
          choice: 'sequential',
          reason: 'no iterative strategy met the quality target on the calibration batch',
          depth: T - 1,
          crmShare: m.crmShare,
          tough: false,
          guess: 'noise',
        })),
      };
    }
    const depth = accepted.blocks.reduce((s, b) => s + b.depth, 0);
    const ms = cost ? accepted.blocks.reduce((s, b) => s + (b.predictedMs ?? sequentialBlockMs(cost!, T)), 0) : undefined;

    // The joint solve of all blocks: the least number of joint iterations whose
    // samples meet the target (and keep meeting it with more iterations), from
    // one solve per initial guess of the first block; kept when it beats the
    // per-block plan on the objective.
    // More joint iterations than `upper` cannot beat the per-block plan: in depth, or (objective time) in
    // predicted time at the timed cost of one stacked pass.
    const byTime = objective === 'time' && cost?.jointPassMs && ms !== undefined ? Math.ceil(ms / cost.jointPassMs) : Infinity;
    if ((options.joint ?? true) && Math.min(depth, nBlocks * (T - 1), byTime) - 1 >= 1) {
      const upper = Math.min(depth, nBlocks * (T - 1), byTime) - 1;
      const table = classMeanGuess(model, {
        perClass: options.guessPerClass ?? 8,
        guidance: options.guidance,
        temperature,
        seed: (options.seed ?? 1234) + 1,
      });
      const firstGuess: InitialGuess = bySampling[0].igm[1] < bySampling[0].igm[0] ? 'zeros' : 'noise';
      let best: { strategy: JointStrategy; e: Quality } | null = null;
      for (const guess of ['table', firstGuess] as const) {
        progress(`joint solve, ${guess} guess: up to ${upper} joint iterations`);
        const trace: Quality[] = [];
        const r = model.sample(noise, {
          labels,
          guidance: options.guidance,
          temperature,
          strategy: { kind: 'joint', maxIterations: upper, guess, ...(guess === 'table' ? { table } : {}) },
          onJointIteration: (_n, _res, images) => trace.push(compare(images(), reference, B)),
        });
        r.images.dispose();
        // The least n from which on every count of iterations passes.
        let n = trace.length;
        while (n >= 1 && passes(trace[n - 1])) n -= 1;
        n += 1;
        if (n <= trace.length && (!best || n < best.strategy.maxIterations)) {
          best = { strategy: { kind: 'joint', maxIterations: n, guess, ...(guess === 'table' ? { table } : {}) }, e: trace[n - 1] };
        }
        progress(`joint solve, ${guess} guess: ${n <= trace.length ? `${n} joint iterations meet the target` : 'does not meet the target'}`);
      }
      const jointMs = best && cost?.jointPassMs !== undefined ? best.strategy.maxIterations * cost.jointPassMs : undefined;
      const wins = best && (objective === 'depth' ? best.strategy.maxIterations < depth : jointMs !== undefined && ms !== undefined && jointMs < ms);
      if (best && wins) {
        const n = best.strategy.maxIterations;
        const why =
          `joint solve of all blocks (one stacked evaluation per joint iteration): ${n} joint iterations with the ${best.strategy.guess} guess ` +
          `meet the target on the calibration batch (mean |Δ| ${best.e.mean.toExponential(2)} ± ${best.e.se.toExponential(1)}, max ${best.e.max.toFixed(3)}), ` +
          `against depth ${depth}${ms !== undefined ? ` (~${ms.toFixed(1)} ms)` : ''} solving block by block`;
        return {
          objective,
          strategy: best.strategy,
          text: formatSamplingStrategy(best.strategy),
          tolerance: null,
          blocks: bySampling.map((m, k) => ({
            samplingIndex: k,
            forwardIndex: m.forwardIndex,
            choice: 'joint',
            reason: why,
            depth: n,
            crmShare: m.crmShare,
            tough: m.crmShare >= toughFactor * avgShare,
            guess: k === 0 ? best!.strategy.guess! : 'noise',
          })),
          predicted: {
            depth: n,
            sequentialDepth: nBlocks * (T - 1),
            ms: jointMs,
            sequentialMs: cost ? nBlocks * sequentialBlockMs(cost, T) : undefined,
            meanAbsDiff: best.e.mean,
            meanAbsDiffBound: best.e.mean + confidence * best.e.se,
            maxAbsDiff: best.e.max,
          },
          metrics,
          cost,
        };
      }
    }
    return {
      objective,
      strategy: accepted.strategy,
      text: formatStrategy(accepted.strategy),
      tolerance: accepted.tol || null,
      blocks: accepted.blocks,
      predicted: {
        depth,
        sequentialDepth: nBlocks * (T - 1),
        ms,
        sequentialMs: cost ? nBlocks * sequentialBlockMs(cost, T) : undefined,
        meanAbsDiff: accepted.mean,
        meanAbsDiffBound: accepted.mean + confidence * accepted.se,
        maxAbsDiff: accepted.max,
      },
      metrics,
      cost,
    };
  } finally {
    tf.dispose(owned);
  }
}
