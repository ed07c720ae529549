import { tf, type PatchSeq } from '@tarflow/tensor';
import { disposeParams, type AffineParams, type CausalAffineMap } from './map.js';
import { moduleBounds, type BlockStrategy, type InitialGuess } from './strategy.js';

/**
 * Clamping of Jacobi iterates.
 * - 'none' (default): no clamp; a converged Jacobi equals the exact inverse.
 * - 'reference': the GS-Jacobi reference code's clamp to [-3, 3]: plain Jacobi
 *   clamps every position (position 0 included) after each iteration, GS-Jacobi
 *   clamps the positions of the module being solved; sequential never clamps.
 * - { min, max }: clamp the positions each iteration updates (never position 0).
 */
export type ClampOption = 'none' | 'reference' | { min: number; max: number };

export interface SolveOptions {
  clamp?: ClampOption;
  /**
   * Divergence guard: a module whose residual turns non-finite, or grows for
   * `patience` iterations in a row to at least `growth` times its first
   * residual, is re-solved exactly (sequentially). A converging Jacobi may
   * wander upward for a few iterations while errors travel along the sequence;
   * a diverging one leaves its starting level behind, which `growth` tells
   * apart. `false` disables the guard (non-finite results then raise an error).
   */
  divergence?: { patience: number; growth?: number } | false;
  /**
   * Keys/values a finished GS module leaves for the modules after it.
   * - 'fresh' (default): computed from the module's final values, so cached and
   *   recomputed modules agree exactly (costs no extra depth: the next module's
   *   first pass re-reads those positions).
   * - 'last-iteration': the keys/values of the module's last Jacobi pass, which
   *   saw the values before the final update — what the reference code caches.
   */
  moduleCache?: 'fresh' | 'last-iteration';
}

/** The options that reproduce the GS-Jacobi reference code exactly. */
export const REFERENCE_SEMANTICS: Readonly<Pick<SolveOptions, 'clamp' | 'moduleCache'>> = {
  clamp: 'reference',
  moduleCache: 'last-iteration',
};

/** What happened in one module of one block. */
export interface ModuleReport {
  /** First and last position (inclusive) the module solves. */
  start: number;
  end: number;
  /** Jacobi iterations run (0 for a sequential solve). */
  iterations: number;
  /** Residual max|x_new − x_old| over the module after each iteration. */
  residuals: number[];
  /** Dependent network evaluations this module cost. */
  depth: number;
  /** Set when the divergence guard re-solved the module exactly. */
  fallback?: { reason: string; afterIteration: number };
}

/** What happened in one block. */
export interface BlockReport {
  strategy: BlockStrategy;
  modules: ModuleReport[];
  /** Dependent network evaluations: T − 1 for sequential, the sum of module iterations for Jacobi. */
  depth: number;
  /** Positions pushed through the network in total (work, not depth). */
  positionsEvaluated: number;
  fallbacks: number;
  wallMs: number;
}

export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

const REFERENCE_CLAMP = { min: -3, max: 3 };

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * Solvers are written as generators that yield each scalar they must read
 * from the device (a residual, a finiteness check) and receive its value back.
 * `runSync` answers with dataSync(), `runAsync` with `await data()` — the
 * only way to read on WebGPU in browsers — so the logic exists once. A
 * yielded `null` reads nothing: it marks a point where an asynchronous driver
 * may hand control to the event loop (the sequential loop yields one per step).
 */
export type ReadSteps<R> = Generator<tf.Tensor | null, R, number>;

/** Yields a scalar tensor for reading (and disposes it afterwards). */
export function* readScalar(t: tf.Tensor): ReadSteps<number> {
  try {
    return yield t;
  } finally {
    t.dispose();
  }
}

function* allFinite(t: tf.Tensor): ReadSteps<boolean> {
  return (yield* readScalar(tf.tidy(() => tf.cast(tf.all(tf.isFinite(t)), 'float32')))) === 1;
}

/** Drives solver steps with synchronous reads; each yielded tensor is read, then disposed. */
export function runSync<R>(steps: ReadSteps<R>): R {
  let r = steps.next();
  try {
    while (!r.done) {
      if (r.value === null) {
        r = steps.next(NaN);
        continue;
      }
      const value = r.value.dataSync()[0];
      r.value.dispose();
      r = steps.next(value);
    }
  } catch (e) {
    steps.return(undefined as never);
    throw e;
  }
  return r.value;
}

/** Lets timers, messages and rendering run (a resolved promise alone would not). */
function nextTask(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(0);
  });
}

/**
 * Drives solver steps with asynchronous reads (WebGPU in browsers, or to keep a
 * page responsive). On backends whose reads resolve at once (cpu, wasm) it
 * still hands control to the event loop every `yieldEveryMs` milliseconds.
 */
export async function runAsync<R>(steps: ReadSteps<R>, yieldEveryMs = 20): Promise<R> {
  let r = steps.next();
  let last = performance.now();
  try {
    while (!r.done) {
      if (performance.now() - last >= yieldEveryMs) {
        await nextTask();
        last = performance.now();
      }
      if (r.value === null) {
        r = steps.next(NaN);
        continue;
      }
      const value = (await r.value.data())[0];
      r.value.dispose();
      r = steps.next(value);
    }
  } catch (e) {
    steps.return(undefined as never);
    throw e;
  }
  return r.value;
}

/** Applies one affine update: exp(logScale) * z + shift. */
function affine(params: AffineParams, z: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(tf.exp(params.logScale), z), params.shift);
}

/**
 * Exact sequential inverse of positions [from, to] (inclusive) of a map: one
 * single-position network evaluation per position. `x` holds final values for
 * positions < from; `cache` covers positions [0, cached). Returns the new
 * sequence (positions > to copied from x) and a cache covering [0, to).
 */
function* sequentialRange<C>(
  map: CausalAffineMap<C>,
  x: PatchSeq,
  z: PatchSeq,
  from: number,
  to: number,
  cache: C,
  cached: number,
): ReadSteps<{ x: PatchSeq; cache: C; evaluated: number; depth: number }> {
  const T = map.tokens;
  const parts: tf.Tensor[] = [];
  let evaluated = 0;
  let depth = 0;
  let c = cache;
  let last: tf.Tensor; // final value of position pos − 1
  let pos: number;
  if (from === 0) {
    last = tf.slice(z, [0, 0, 0], [-1, 1, -1]);
    parts.push(last);
    pos = 1;
  } else {
    // Bring the cache to [0, from − 1), then evaluate the known positions
    // [cached, from − 1] in one pass: that yields the parameters for `from`.
    if (cached > from - 1) {
      const t = map.truncateCache(c, from - 1);
      map.disposeCache(c);
      c = t;
      cached = from - 1;
    }
    const n = from - cached;
    const span = tf.slice(x, [0, cached, 0], [-1, n, -1]) as PatchSeq;
    const r = map.evaluate(span, cached, c);
    span.dispose();
    map.disposeCache(c);
    c = r.cache;
    evaluated += n;
    depth += 1;
    parts.push(tf.slice(x, [0, 0, 0], [-1, from, -1]));
    last = tf.tidy(() =>
      affine(
        {
          logScale: tf.slice(r.params.logScale, [0, n - 1, 0], [-1, 1, -1]) as PatchSeq,
          shift: tf.slice(r.params.shift, [0, n - 1, 0], [-1, 1, -1]) as PatchSeq,
        },
        tf.slice(z, [0, from, 0], [-1, 1, -1]),
      ),
    );
    disposeParams(r.params);
    parts.push(last);
    pos = from + 1;
  }
  for (; pos <= to; pos++) {
    yield null; // a point where an asynchronous driver may let the event loop run
    // The cache covers [0, pos − 1); feed position pos − 1 to get position pos.
    const r = map.evaluate(last as PatchSeq, pos - 1, c);
    map.disposeCache(c);
    c = r.cache;
    evaluated += 1;
    depth += 1;
    const p = pos;
    last = tf.tidy(() => affine(r.params, tf.slice(z, [0, p, 0], [-1, 1, -1])));
    disposeParams(r.params);
    parts.push(last);
  }
  if (to + 1 < T) parts.push(tf.slice(x, [0, to + 1, 0], [-1, T - to - 1, -1]));
  const out = tf.concat(parts, 1) as PatchSeq;
  for (const p of parts) p.dispose();
  // The cache covers [0, to) (position `to` itself was never fed to the network).
  return { x: out, cache: c, evaluated, depth };
}

/** The initial iterate from the block input z. */
function initialGuess(z: PatchSeq, guess: InitialGuess): PatchSeq {
  if (guess === 'noise') return tf.clone(z);
  return tf.tidy(() => {
    const first = tf.slice(z, [0, 0, 0], [-1, 1, -1]);
    const [B, T, D] = z.shape;
    return tf.concat([first, tf.zeros([B, T - 1, D])], 1) as PatchSeq;
  });
}

/**
 * Inverts one causal affine map: finds x with x[0] = z[0] and
 * x[t] = exp(logScale(x)[t−1]) · z[t] + shift(x)[t−1]. `z` is [B, T, D] in the
 * map's own position order. The caller owns `z`; the result is new.
 *
 * A convenience for runSync(solveBlockSteps(…)); for asynchronous reads use
 * runAsync(solveBlockSteps(…)).
 */
export function solveBlock<C>(
  map: CausalAffineMap<C>,
  z: PatchSeq,
  strategy: BlockStrategy,
  options: SolveOptions = {},
): { x: PatchSeq; report: BlockReport } {
  return runSync(solveBlockSteps(map, z, strategy, options));
}

/** The steps of solving one block, yielding each scalar it reads: drive them with runSync or runAsync. */
export function* solveBlockSteps<C>(
  map: CausalAffineMap<C>,
  z: PatchSeq,
  strategy: BlockStrategy,
  options: SolveOptions = {},
): ReadSteps<{ x: PatchSeq; report: BlockReport }> {
  const t0 = now();
  const T = map.tokens;
  const [B, Tz, D] = z.shape;
  if (Tz !== T || D !== map.dim) {
    throw new Error(`solveBlock: input has shape [${B}, ${Tz}, ${D}] but the map expects [batch, ${T}, ${map.dim}]`);
  }
  const clampOpt = options.clamp ?? 'none';
  const guard = options.divergence === undefined ? { patience: 3 } : options.divergence;
  const report: BlockReport = { strategy, modules: [], depth: 0, positionsEvaluated: 0, fallbacks: 0, wallMs: 0 };

  if (strategy.kind === 'sequential' || T === 1) {
    const cache = map.emptyCache(B);
    const r = yield* sequentialRange(map, z, z, 0, T - 1, cache, 0);
    map.disposeCache(r.cache);
    report.modules.push({ start: 1, end: T - 1, iterations: 0, residuals: [], depth: r.depth });
    report.depth = r.depth;
    report.positionsEvaluated = r.evaluated;
    report.wallMs = now() - t0;
    if (!(yield* allFinite(r.x))) {
      r.x.dispose();
      throw new NonFiniteError('sequential inverse produced non-finite values (the model itself diverges on this input)');
    }
    return { x: r.x, report };
  }

  const clampRange = clampOpt === 'none' ? null : clampOpt === 'reference' ? REFERENCE_CLAMP : clampOpt;
  // The reference clamps position 0 too in plain Jacobi; it then becomes part of the iterated set.
  const bounds = moduleBounds(T, strategy.modules);
  if (clampOpt === 'reference' && bounds.length === 1) bounds[0] = [0, T - 1];

  let x = initialGuess(z, strategy.guess ?? 'noise');
  let cache = map.emptyCache(B);
  let cached = 0; // positions [0, cached) are in the cache and final

  for (const [a, b] of bounds) {
    const mod: ModuleReport = { start: a, end: b, iterations: 0, residuals: [], depth: 0 };
    report.modules.push(mod);
    const size = b - a + 1;
    // A triangular system of `size` unknowns is solved exactly after `size`
    // iterations, so more are never needed.
    const maxIt = Math.min(strategy.maxIterations, size);
    let firstParams: tf.Tensor | null = null; // exp(a)z+b for position a, final after iteration 1
    let growth = 0;
    let prevResidual = Infinity;
    let fallbackReason: string | null = null;

    for (let it = 1; it <= maxIt; it++) {
      const spanStart = it === 1 ? cached : a;
      const spanEnd = b - 1; // inputs up to b − 1 produce positions up to b
      let newValues: tf.Tensor; // new values for positions [a, b]
      if (spanEnd < spanStart) {
        // Nothing left to evaluate (module of one position after its first iteration).
        newValues = tf.slice(x, [0, a, 0], [-1, size, -1]);
      } else {
        const span = tf.slice(x, [0, spanStart, 0], [-1, spanEnd - spanStart + 1, -1]) as PatchSeq;
        const r = map.evaluate(span, spanStart, cache);
        span.dispose();
        report.positionsEvaluated += spanEnd - spanStart + 1;
        mod.depth += 1;
        map.disposeCache(cache);
        cache = r.cache; // covers [0, b) until the end of this iteration decides what to keep
        cached = b;
        newValues = tf.tidy(() => {
          const n = spanEnd - spanStart + 1;
          // Rows producing positions max(a, spanStart + 1) … b.
          const firstOut = Math.max(a, spanStart + 1);
          const rows = b - firstOut + 1;
          const p: AffineParams = {
            logScale: tf.slice(r.params.logScale, [0, n - rows, 0], [-1, rows, -1]) as PatchSeq,
            shift: tf.slice(r.params.shift, [0, n - rows, 0], [-1, rows, -1]) as PatchSeq,
          };
          let vals: tf.Tensor = affine(p, tf.slice(z, [0, firstOut, 0], [-1, rows, -1]));
          if (firstOut > a) {
            // position a (= 0 in reference-clamped plain Jacobi, or a fixed earlier value)
            const head = a === 0 ? tf.slice(z, [0, 0, 0], [-1, 1, -1]) : (firstParams as tf.Tensor);
            vals = tf.concat([head, vals], 1);
          }
          return vals;
        });
        disposeParams(r.params);
      }
      if (clampRange) {
        const clamped = tf.clipByValue(newValues, clampRange.min, clampRange.max);
        newValues.dispose();
        newValues = clamped;
      }
      if (it === 1 && a > 0) firstParams = tf.slice(newValues, [0, 0, 0], [-1, 1, -1]);
      const residual = yield* readScalar(tf.tidy(() => tf.max(tf.abs(tf.sub(newValues, tf.slice(x, [0, a, 0], [-1, size, -1]))))));
      const next = tf.tidy(() => {
        const parts: tf.Tensor[] = [];
        if (a > 0) parts.push(tf.slice(x, [0, 0, 0], [-1, a, -1]));
        parts.push(newValues);
        if (b + 1 < T) parts.push(tf.slice(x, [0, b + 1, 0], [-1, T - b - 1, -1]));
        return tf.concat(parts, 1) as PatchSeq;
      });
      newValues.dispose();
      x.dispose();
      x = next;
      mod.iterations = it;
      mod.residuals.push(residual);

      // Decide whether this was the module's last iteration.
      let stop = it === maxIt || (strategy.tolerance !== undefined && residual <= strategy.tolerance);
      if (guard !== false) {
        if (!Number.isFinite(residual)) {
          fallbackReason = `residual became non-finite at iteration ${it}`;
        } else if (residual > prevResidual) {
          growth += 1;
          const first = mod.residuals[0];
          if (growth >= guard.patience && residual >= (guard.growth ?? 2) * first) {
            fallbackReason = `residual grew for ${growth} iterations in a row, to ${(residual / first).toPrecision(3)}× its first value`;
          }
        } else {
          growth = 0;
        }
        if (fallbackReason) stop = true;
      }
      prevResidual = residual;
      // Positions < a are final. Keep only their keys/values, unless this was the
      // last iteration and the reference's cache of the last pass is wanted.
      const keepAll = stop && !fallbackReason && options.moduleCache === 'last-iteration';
      if (cached > a && !keepAll) {
        const truncated = map.truncateCache(cache, a);
        map.disposeCache(cache);
        cache = truncated;
        cached = a;
      }
      if (stop) break;
    }
    if (firstParams) firstParams.dispose();

    if (!fallbackReason && guard !== false && !(yield* allFinite(x))) {
      fallbackReason = 'the module ended with non-finite values';
    }
    if (fallbackReason) {
      mod.fallback = { reason: fallbackReason, afterIteration: mod.iterations };
      report.fallbacks += 1;
      if (a === 0) {
        map.disposeCache(cache);
        cache = map.emptyCache(B);
        cached = 0;
      }
      const seq = yield* sequentialRange(map, x, z, a, b, cache, cached);
      x.dispose();
      x = seq.x;
      cache = seq.cache;
      cached = b; // the sequential pass leaves [0, b) cached
      mod.depth += seq.depth;
      report.positionsEvaluated += seq.evaluated;
      if (!(yield* allFinite(x))) {
        x.dispose();
        map.disposeCache(cache);
        throw new NonFiniteError(
          `block positions ${a}…${b}: the exact sequential re-solve is non-finite too (the model itself diverges on this input)`,
        );
      }
    }
    report.depth += mod.depth;
  }
  map.disposeCache(cache);
  if (guard === false && !(yield* allFinite(x))) {
    x.dispose();
    throw new NonFiniteError('Jacobi iterations produced non-finite values and the divergence guard is disabled');
  }
  report.wallMs = now() - t0;
  return { x, report };
}
