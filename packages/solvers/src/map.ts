import { tf, type PatchSeq } from '@tarflow/tensor';

/**
 * The affine parameters a causal map produces for a span of positions.
 * Row t of each tensor produces position t + 1:
 *
 *     x[t + 1] = exp(logScale[t]) * z[t + 1] + shift[t]
 */
export interface AffineParams {
  logScale: PatchSeq;
  shift: PatchSeq;
}

/**
 * A causal autoregressive affine map over a sequence of T positions of
 * dimension D — the one interface every solver works with.
 *
 * The map is stateless: its key/value cache is an explicit value `C` that the
 * solver owns, passes in and disposes. `evaluate` never mutates or disposes the
 * cache it receives; it returns a new one.
 */
export interface CausalAffineMap<C = unknown> {
  /** Sequence length T. */
  readonly tokens: number;
  /** Feature dimension D of each position. */
  readonly dim: number;
  /** A cache holding no positions, for a batch of the given size. */
  emptyCache(batch: number): C;
  /**
   * Runs the map on `x` = the current values of positions [start, start + n)
   * ([B, n, D]) with `cache` holding positions [0, start). Returns the affine
   * parameters those positions produce (for positions start + 1 … start + n)
   * and a new cache holding positions [0, start + n).
   */
  evaluate(x: PatchSeq, start: number, cache: C): { params: AffineParams; cache: C };
  /** A new cache holding the first `length` positions of `cache` (which is left untouched). */
  truncateCache(cache: C, length: number): C;
  /** Frees the tensors of a cache. */
  disposeCache(cache: C): void;
}

/** Number of positions a cache covers, for maps whose caches carry it. */
export interface HasLength {
  length: number;
}

/** Disposes both tensors of a set of affine parameters. */
export function disposeParams(p: AffineParams): void {
  p.logScale.dispose();
  p.shift.dispose();
}

/**
 * Classifier-free guidance (the TarFlow reference's sampling guidance): a
 * conditional and an unconditional evaluation of the same map combined as
 *
 *     p = p_c + w_t · (p_c − p_u),   w_t = w · (t + 1) / (T − 1) when annealed, else w
 *
 * on the log-scale α, the shift γ or both, at output row t (producing position t + 1).
 */
export interface GuidanceOptions {
  /** Guidance scale w; 0 disables guidance. */
  scale: number;
  /** Which affine parameter is guided: the log-scale (α), the shift (γ) or both (the reference's 'a', 'b', 'ab'). */
  on?: 'alpha' | 'gamma' | 'both';
  /** Anneal the scale linearly along the sequence: w · (t + 1) / (T − 1) at output row t. */
  annealed?: boolean;
  /**
   * Attention temperature of the unconditional branch, used by maps that have
   * an attention temperature (a TarFlow block); guideParams and guidedMap do
   * not read it.
   */
  attnTemp?: number;
}

function guidanceTarget(options: GuidanceOptions): 'alpha' | 'gamma' | 'both' {
  const on = options.on ?? 'both';
  if (on !== 'alpha' && on !== 'gamma' && on !== 'both') throw new Error(`guidance: unknown target ${JSON.stringify(on)} (expected 'alpha', 'gamma' or 'both')`);
  return on;
}

/**
 * Classifier-free guidance of one span of rows starting at `start` (see
 * GuidanceOptions for the formula), from the conditional parameters `c` and
 * the unconditional ones `u` of the same rows. Returns new tensors.
 */
export function guideParams(c: AffineParams, u: AffineParams, options: GuidanceOptions, tokens: number, start: number): AffineParams {
  const on = guidanceTarget(options);
  return tf.tidy(() => {
    const n = c.shift.shape[1];
    let w: tf.Tensor = tf.scalar(options.scale);
    if (options.annealed) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = ((start + i + 1) / (tokens - 1)) * options.scale;
      w = tf.tensor3d(a, [1, n, 1]);
    }
    const guide = (pc: tf.Tensor, pu: tf.Tensor) => tf.add(pc, tf.mul(w, tf.sub(pc, pu)));
    return {
      logScale: (on === 'gamma' ? tf.clone(c.logScale) : guide(c.logScale, u.logScale)) as PatchSeq,
      shift: (on === 'alpha' ? tf.clone(c.shift) : guide(c.shift, u.shift)) as PatchSeq,
    };
  });
}

/**
 * Classifier-free guidance of two maps of one's own: evaluates a conditional
 * and an unconditional map (each with its own cache) and combines them with
 * guideParams. The result is again a CausalAffineMap, so every solver
 * supports guidance without knowing about it. (A TarFlow block guides inside
 * one batched evaluation instead, with the same guideParams.)
 */
export function guidedMap<CC, CU>(
  cond: CausalAffineMap<CC>,
  uncond: CausalAffineMap<CU>,
  options: GuidanceOptions,
): CausalAffineMap<{ cond: CC; uncond: CU }> {
  if (cond.tokens !== uncond.tokens || cond.dim !== uncond.dim) {
    throw new Error(
      `guidedMap: branches disagree on shape: [${cond.tokens}, ${cond.dim}] vs [${uncond.tokens}, ${uncond.dim}]`,
    );
  }
  guidanceTarget(options);
  const T = cond.tokens;
  return {
    tokens: T,
    dim: cond.dim,
    emptyCache: (batch) => ({ cond: cond.emptyCache(batch), uncond: uncond.emptyCache(batch) }),
    evaluate(x, start, cache) {
      const c = cond.evaluate(x, start, cache.cond);
      const u = uncond.evaluate(x, start, cache.uncond);
      const params = guideParams(c.params, u.params, options, T, start);
      disposeParams(c.params);
      disposeParams(u.params);
      return { params, cache: { cond: c.cache, uncond: u.cache } };
    },
    truncateCache: (cache, length) => ({
      cond: cond.truncateCache(cache.cond, length),
      uncond: uncond.truncateCache(cache.uncond, length),
    }),
    disposeCache(cache) {
      cond.disposeCache(cache.cond);
      uncond.disposeCache(cache.uncond);
    },
  };
}
