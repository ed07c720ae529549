/**
 * Joint Jacobi over a chain of causal affine maps — a whole flow inverted at once.
 *
 * Block-by-block solving waits for each block to converge before the next one
 * starts, so the depths of the blocks add up. In a joint iteration every stage
 * takes one Jacobi step at once, each on the current iterate of the stage
 * before it: the stages of one iteration are independent, so (evaluated
 * together) one joint iteration is one dependent step, and the stages after
 * the first converge while the first is still converging. The fixed point is
 * the exact inverse of the whole chain; after stages × (T − 1) iterations the
 * result is exact (each stage is exact T − 1 iterations after its input is).
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { disposeParams, type AffineParams, type CausalAffineMap } from './map.js';
import { NonFiniteError, readScalar, solveBlockSteps, type BlockReport, type ReadSteps } from './solve.js';
import { findUnconverged, type SolveReport } from './report.js';
import { formatStrategy, validateJointStrategy, type JointStrategy } from './strategy.js';

/**
 * A chain of causal affine maps inverted one after another (a flow's blocks in
 * sampling order), each in its own position order.
 */
export interface CausalChain {
  /** Sequence length T of every stage. */
  readonly tokens: number;
  /** Feature dimension D of every stage. */
  readonly dim: number;
  /** Number of stages. */
  readonly stages: number;
  /**
   * Evaluates stages [from, stages) on whole sequences, without caches:
   * `xs[i]` is the iterate [B, T, D] of stage from + i (only positions
   * 0 … T − 2 are read). Returns, per stage, the parameters producing
   * positions 1 … T − 1 ([B, T − 1, D] each). The stages of one call are
   * independent, so a chain may evaluate them together in one dispatch.
   */
  evaluateFrom(from: number, xs: PatchSeq[]): AffineParams[];
  /** Stage k's output in stage k + 1's position order (a new tensor). */
  link(k: number, x: PatchSeq): PatchSeq;
  /** Stage k as a map, for the exact fallback of a diverging joint solve. */
  map(k: number): CausalAffineMap<unknown>;
}

/** A chain whose stages are evaluated one after another (for any maps). */
export function chainFromMaps(maps: CausalAffineMap<unknown>[], link: (k: number, x: PatchSeq) => PatchSeq): CausalChain {
  if (maps.length === 0) throw new Error('chainFromMaps: no maps');
  const { tokens, dim } = maps[0];
  if (maps.some((m) => m.tokens !== tokens || m.dim !== dim)) throw new Error('chainFromMaps: the maps disagree on [T, D]');
  return {
    tokens,
    dim,
    stages: maps.length,
    evaluateFrom(from, xs) {
      return xs.map((x, i) => {
        const map = maps[from + i];
        const empty = map.emptyCache(x.shape[0]);
        const head = tf.slice(x, [0, 0, 0], [-1, tokens - 1, -1]) as PatchSeq;
        const r = map.evaluate(head, 0, empty);
        head.dispose();
        map.disposeCache(empty);
        map.disposeCache(r.cache);
        return r.params;
      });
    },
    link,
    map: (k) => maps[k],
  };
}

/** x[0] = z[0]; x[t] = exp(logScale[t − 1]) · z[t] + shift[t − 1]. */
function jacobiUpdate(z: tf.Tensor, p: AffineParams): PatchSeq {
  return tf.tidy(() => {
    const T = z.shape[1]!;
    const rest = tf.slice(z, [0, 1, 0], [-1, T - 1, -1]);
    return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), tf.add(tf.mul(tf.exp(p.logScale), rest), p.shift)], 1) as PatchSeq;
  });
}

export interface ChainSolveOptions {
  /** The first stage's initial iterate [B, T, D] (position 0 is replaced by the input); needed for guess 'table'. */
  guess?: PatchSeq;
  /**
   * Called after each joint iteration with its number, each active stage's
   * residual, the last stage's current iterate (borrowed: valid during the
   * call only) — e.g. to measure the quality at every depth in one solve —
   * and, on request, each sample's residual: the largest move of its iterate
   * over the active stages ([B], a new tensor the caller disposes). Samples
   * do not interact, so a batch's residual is the largest of its samples':
   * from one solve, where any sub-batch would stop at any tolerance.
   */
  onIteration?: (iteration: number, residuals: number[], last: PatchSeq, sampleResiduals: () => tf.Tensor1D) => void;
}

/**
 * The steps of a joint Jacobi solve of a chain from the first stage's input
 * `z` (in its position order). Returns the last stage's output (in its
 * position order) and a report whose depth is the number of joint iterations.
 * It stops once no stage's iterate moves by more than the tolerance, or at
 * maxIterations. A stage stops being evaluated once it has had T − 1
 * iterations on its final input (then it is exact). A non-finite iterate
 * makes the unfinished stages be solved exactly, one after another.
 */
export function* solveChainSteps(
  chain: CausalChain,
  z: PatchSeq,
  strategy: JointStrategy,
  options: ChainSolveOptions = {},
): ReadSteps<{ x: PatchSeq; report: SolveReport }> {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  const T = chain.tokens;
  const L = chain.stages;
  const [B, Tz, D] = z.shape;
  if (Tz !== T || D !== chain.dim) throw new Error(`solveChain: input has shape [${B}, ${Tz}, ${D}] but the chain expects [batch, ${T}, ${chain.dim}]`);
  const s = validateJointStrategy(strategy);
  const guessKind = s.guess ?? 'noise';
  if (guessKind === 'table' && !options.guess) throw new Error("solveChain: guess 'table' needs options.guess (the table's rows for the batch)");
  if (options.guess && (options.guess.shape[0] !== B || options.guess.shape[1] !== T || options.guess.shape[2] !== D)) {
    throw new Error(`solveChain: the guess has shape [${options.guess.shape.join(', ')}], expected [${B}, ${T}, ${D}]`);
  }
  const blockStrategy = { kind: 'jacobi' as const, modules: 1, maxIterations: s.maxIterations, ...(s.tolerance !== undefined ? { tolerance: s.tolerance } : {}) };
  const reports: BlockReport[] = Array.from({ length: L }, () => ({
    strategy: blockStrategy,
    modules: [{ start: 1, end: T - 1, iterations: 0, residuals: [], depth: 0 }],
    depth: 0,
    positionsEvaluated: 0,
    fallbacks: 0,
    wallMs: 0,
  }));

  // Initial iterates: the first stage from its guess, every later stage from its input.
  const xs: PatchSeq[] = [];
  xs.push(
    tf.tidy(() => {
      if (guessKind === 'noise') return tf.clone(z);
      const g = guessKind === 'zeros' ? tf.zeros([B, T - 1, D]) : tf.slice(options.guess!, [0, 1, 0], [-1, T - 1, -1]);
      return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), g], 1);
    }) as PatchSeq,
  );
  for (let k = 1; k < L; k++) xs.push(chain.link(k - 1, xs[k - 1]));

  let from = 0; // stages < from are final
  let frozenInput: PatchSeq = tf.clone(z); // input of stage `from` (final)
  let onFinalInput = 0; // iterations stage `from` has had on its final input
  let iterations = 0;
  let extraDepth = 0;
  let fallback = false;
  try {
    while (from < L && iterations < s.maxIterations) {
      iterations += 1;
      const active = xs.slice(from);
      const inputs = active.map((_, i) => (i === 0 ? frozenInput : chain.link(from + i - 1, xs[from + i - 1])));
      const params = chain.evaluateFrom(from, active);
      const next = params.map((p, i) => jacobiUpdate(inputs[i], p));
      params.forEach(disposeParams);
      inputs.slice(1).forEach((t) => t.dispose());
      const residuals: number[] = [];
      for (let i = 0; i < next.length; i++) {
        residuals.push(yield* readScalar(tf.tidy(() => tf.max(tf.abs(tf.sub(next[i], active[i]))))));
      }
      for (let i = 0; i < next.length; i++) {
        const r = reports[from + i];
        r.modules[0].iterations += 1;
        r.modules[0].residuals.push(residuals[i]);
        r.modules[0].depth += 1;
        r.depth += 1;
        r.positionsEvaluated += T - 1;
        xs[from + i] = next[i];
      }
      try {
        options.onIteration?.(iterations, residuals, xs[L - 1], () =>
          tf.tidy(() => tf.max(tf.stack(next.map((n, i) => tf.max(tf.abs(tf.sub(n, active[i])), [1, 2]))), 0) as tf.Tensor1D),
        );
      } finally {
        active.forEach((t) => t.dispose());
      }
      if (residuals.some((v) => !Number.isFinite(v))) {
        fallback = true;
        break;
      }
      onFinalInput += 1;
      // Freeze the first unfinished stage once it is exact on its final input
      // (its successor's input becomes final only now, so at most one a step).
      // Not on the tolerance: a stage frozen while its residual is merely below
      // a loose ε would hand its successors an unsettled input for good, and
      // the solve would stop where the joint iteration had not; so a
      // tolerance-stopped solve is the same solve cut at its stopping count.
      if (onFinalInput >= T - 1) {
        from += 1;
        frozenInput.dispose();
        frozenInput = from < L ? chain.link(from - 1, xs[from - 1]) : (tf.zeros([0, T, D]) as PatchSeq);
        onFinalInput = 0;
      }
      if (s.tolerance !== undefined && residuals.every((v) => v <= s.tolerance!)) break;
    }
    if (fallback) {
      // Re-solve the unfinished stages exactly, from the last final input.
      for (let k = from; k < L; k++) {
        const input = k === from ? frozenInput : chain.link(k - 1, xs[k - 1]);
        const solved = yield* solveBlockSteps(chain.map(k), input, { kind: 'sequential' });
        if (k !== from) input.dispose();
        xs[k].dispose();
        xs[k] = solved.x;
        reports[k].fallbacks += 1;
        reports[k].modules[0].fallback = { reason: 'a joint iterate became non-finite', afterIteration: reports[k].modules[0].iterations };
        reports[k].depth += solved.report.depth;
        reports[k].positionsEvaluated += solved.report.positionsEvaluated;
        extraDepth += solved.report.depth;
      }
    } else {
      const ok = (yield* readScalar(tf.tidy(() => tf.cast(tf.all(tf.isFinite(xs[L - 1])), 'float32')))) === 1;
      if (!ok) throw new NonFiniteError('joint Jacobi ended with non-finite values');
    }
  } catch (e) {
    xs.forEach((x) => x.dispose());
    frozenInput.dispose();
    throw e;
  }
  frozenInput.dispose();
  const x = xs[L - 1];
  xs.slice(0, L - 1).forEach((t) => t.dispose());
  const wallMs = (typeof performance !== 'undefined' ? performance.now() : Date.now()) - t0;
  reports.forEach((r) => (r.wallMs = wallMs / L));
  return {
    x,
    report: {
      blocks: reports,
      depth: iterations + extraDepth,
      sequentialDepth: L * Math.max(0, T - 1),
      fallbacks: reports.reduce((a, r) => a + r.fallbacks, 0),
      unconverged: findUnconverged(reports, { iterations }),
      wallMs,
      strategy: formatStrategy(s),
      joint: { iterations },
    },
  };
}
