/**
 * Phase 5: the joint solve of all blocks (every block iterating at once, one
 * stacked evaluation per joint iteration), stopped by its residual:
 *
 *   iterate until  max over blocks, positions and samples |x_new − x_old| ≤ ε
 *   (at most blocks × (T − 1) iterations, after which it is exact).
 *
 * A fixed count of joint iterations that met the target on the calibration
 * batch is not a bound on a batch the planner never saw: some classes
 * converge far more slowly than others (on the Fashion-MNIST model the bags
 * and sneakers settle last), and a calibration batch of 32 may hold none of
 * the slowest samples — a fixed count then leaves them far from their exact
 * images (docs/planner.md). A residual rule iterates each batch until its own
 * slowest sample has settled, so the same ε bounds every batch.
 *
 * Per initial guess of the first block — the calibrated class-mean table
 * (classMeanGuess) and the plain guess its IGM prefers — one traced solve of
 * the calibration samples gives, after every joint iteration, each sample's
 * |Δ| and each sample's residual. Samples do not interact and a batch's
 * residual is the largest of its samples', and a residual-stopped joint
 * solve is the same solve cut at its stopping count (solveChainSteps freezes
 * a block only once it is exact): so for any ε the trace tells where any
 * batch of the calibration samples would stop, and its quality there, without
 * another solve. Where a batch stops depends on which samples it holds — one
 * slow sample keeps the others iterating — so the quality at ε is judged on
 * 256 batches of the plan's size drawn from the calibration samples
 * (jointQuality): their mean |Δ|, and their spread as the prediction error.
 * ε is the loosest of the traced residuals (rounded down to two significant
 * digits) at which the target holds and holds at every tighter one within
 * reach. Only counts below `upper` are traced: more cannot beat the
 * per-block plan.
 */
import type { GuessTable, InitialGuess, JointStrategy } from '@tarflow/solvers';
import type { CostModel } from '../cost.js';
import { classMeanGuess } from '../guess.js';
import type { Calibration } from './calibration.js';
import { differences, passes, type Quality } from './compare.js';
import type { PlanContext } from './context.js';
import { roundDown } from './tolerance.js';

export interface JointResult {
  strategy: JointStrategy;
  guessTable?: GuessTable;
  quality: Quality;
  /** Joint iterations the plan took per calibration batch (mean over the batches). */
  depth: number;
}

/** Batch draws (a fixed number, seeded) of `batch` of the `n` calibration samples, without replacement within a draw. */
export function sampleBatches(n: number, batch: number, seed: number, draws = 256): number[][] {
  if (n <= batch) return [Array.from({ length: n }, (_, i) => i)];
  let state = (seed >>> 0) || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  return Array.from({ length: draws }, () => {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < batch; i++) {
      const j = i + Math.floor(next() * (n - i));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order.slice(0, batch);
  });
}

/**
 * The quality of a residual-stopped joint solve at `tolerance` on batches of
 * the calibration samples: each batch stops at its first iteration whose
 * largest sample residual is at most the tolerance, and its mean |Δ| is its
 * samples' there. `mean` is the mean over the batches and `se` the spread of
 * the batch means widened for the n samples they were drawn from,
 * sd · √(1 + B/n) — where stopping did not depend on the batch this is the
 * σ·√(1/n + 1/B) of compare.ts. Null where a batch does not stop within the trace.
 */
export function jointQuality(errors: number[][], peaks: number[][], moves: number[][], batches: number[][], tolerance: number, n: number): { quality: Quality; depth: number } | null {
  const means: number[] = [];
  let depth = 0;
  let max = 0;
  let last: number[] = [];
  for (const b of batches) {
    const stop = moves.findIndex((m) => b.every((i) => m[i] <= tolerance));
    if (stop < 0) return null;
    last = b.map((i) => errors[stop][i]);
    means.push(last.reduce((a, v) => a + v, 0) / b.length);
    max = Math.max(max, ...b.map((i) => peaks[stop][i]));
    depth += stop + 1;
  }
  const spread = (v: number[], m: number) => (v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1)) : Infinity);
  const k = means.length;
  const mean = means.reduce((a, v) => a + v, 0) / k;
  const B = batches[0].length;
  // One batch of all the samples (no more than the plan's batch): the per-sample spread, as compare.ts.
  const se = k > 1 ? spread(means, mean) * Math.sqrt(1 + B / n) : spread(last, mean) * Math.sqrt(1 / n + 1 / B);
  return { quality: { mean, se, max }, depth: depth / k };
}

/** The best joint strategy stopping below `upper` iterations on the calibration batch, or null. */
export function jointSearch(ctx: PlanContext, calib: Calibration, upper: number, cost?: CostModel): JointResult | null {
  const { model } = ctx;
  const first = calib.bySampling[0];
  const plain: InitialGuess = first.igm[1] < first.igm[0] ? 'zeros' : 'noise';
  const guesses = ctx.jointTable ? (['table', plain] as const) : ([plain] as const);
  const exactAfter = ctx.blocks * Math.max(1, ctx.tokens - 1);
  // One joint solve of the calibration batch: `upper` stacked passes (timed at the plan's batch).
  const passMs = cost?.jointPassMs !== undefined ? (cost.jointPassMs * ctx.calibration) / ctx.batch : calib.exactMs / upper;
  let table: GuessTable | undefined;
  let best: JointResult | null = null;
  for (const guess of guesses) {
    if (!ctx.budget.allows(upper * passMs * (guess === 'table' ? 2 : 1))) {
      ctx.progress(`skipping the joint solve with the ${guess} guess: ${ctx.budget.describe()}`);
      continue;
    }
    if (guess === 'table') {
      table = classMeanGuess(model, { perClass: ctx.guessPerClass, guidance: ctx.guidance, temperature: ctx.temperature, seed: ctx.seed + 1 });
    }
    const guessTable = guess === 'table' ? { guessTable: table } : {};
    ctx.progress(`joint solve, ${guess} guess: up to ${upper} joint iterations`);
    // One traced solve of all calibration samples: after every joint iteration, each sample's |Δ| and residual.
    const errors: number[][] = []; // [iteration][sample] mean |Δ|
    const peaks: number[][] = []; // [iteration][sample] largest pixel |Δ|
    const moves: number[][] = []; // [iteration][sample] residual
    const r = model.sample(calib.noise, {
      labels: calib.labels,
      guidance: ctx.guidance,
      engine: ctx.engine,
      temperature: ctx.temperature,
      strategy: { kind: 'joint', maxIterations: upper, guess },
      ...guessTable,
      onJointIteration: (_n, _residuals, images, sampleResiduals) => {
        const d = differences(images(), calib.reference);
        errors.push(d.perSample);
        peaks.push(d.perSampleMax);
        moves.push(Array.from(sampleResiduals().dataSync()));
      },
    });
    r.images.dispose();
    // Batches of the plan's size drawn from the calibration samples: each stops on its own largest residual.
    const n = errors[0]?.length ?? 0;
    const batches = sampleBatches(n, ctx.batch, ctx.seed);
    const at = (tolerance: number) => jointQuality(errors, peaks, moves, batches, tolerance, n);
    // ε: the loosest of the samples' residuals (rounded down to two digits) at which the target holds, and at every
    // tighter one within reach — the analogue of "from this count on, every count passes".
    const candidates = [...new Set(moves.flatMap((m) => m.map(roundDown)))].filter((v) => v > 0).sort((x, y) => x - y);
    let found: JointResult | null = null;
    for (const tolerance of candidates) {
      const q = at(tolerance);
      if (!q) continue; // tighter than some batch gets below `upper`
      if (!passes(q.quality, ctx.target)) break;
      found = { strategy: { kind: 'joint', maxIterations: exactAfter, tolerance, guess }, ...guessTable, quality: q.quality, depth: q.depth };
    }
    if (found && (!best || found.depth < best.depth)) best = found;
    ctx.progress(
      `joint solve, ${guess} guess: ${found ? `tolerance ${found.strategy.tolerance}: ${+found.depth.toFixed(1)} joint iterations per batch, mean |Δ| ${found.quality.mean.toExponential(2)}` : `does not meet the target below ${upper + 1} joint iterations`}`,
    );
  }
  return best;
}
