/**
 * A cost model of the running backend: how long one single-position step
 * (the sequential sampler's unit of work) and one parallel pass over n
 * positions (a Jacobi iteration's) take for a given model and batch.
 *
 * On a GPU a pass over many positions costs about as much as one position, so
 * cutting depth cuts time; on a CPU a pass costs about n steps, so the
 * sequential loop is hard to beat. The planner's `time` objective reads this.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { chooseEngine, type GuidanceSettings, type SamplingEngine, type TarFlow } from '@tarflow/model';

export interface CostModel {
  backend: string;
  /** The engine that evaluated the maps (fused and plain cost differently on the same backend). */
  engine?: 'fused' | 'plain';
  batch: number;
  guided: boolean;
  /** Median ms of one single-position step with a half-full cache. */
  stepMs: number;
  /** Median ms of one parallel pass over `positions` positions (incl. the residual readback). */
  pass: Array<{ positions: number; ms: number }>;
  /** Median ms of one joint iteration: every block's pass over all positions in one stacked evaluation. */
  jointPassMs?: number;
  /** True where jointPassMs was not timed but taken as blocks × the pass over T − 1 positions (quickCost). */
  jointEstimated?: boolean;
}

/** The median of timings (the mean of the middle two for an even count; NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

/** Predicted ms of one pass over n positions (linear interpolation between measured sizes). */
export function passMs(cost: CostModel, n: number): number {
  const p = [...cost.pass].sort((a, b) => a.positions - b.positions);
  if (p.length === 0) return n * cost.stepMs;
  if (n <= p[0].positions) return p[0].ms;
  for (let i = 1; i < p.length; i++) {
    if (n <= p[i].positions) {
      const f = (n - p[i - 1].positions) / (p[i].positions - p[i - 1].positions);
      return p[i - 1].ms + f * (p[i].ms - p[i - 1].ms);
    }
  }
  const last = p[p.length - 1];
  return (last.ms * n) / last.positions;
}

/** Predicted ms of the sequential sampler on one block. */
export function sequentialBlockMs(cost: CostModel, tokens: number): number {
  return cost.stepMs * (tokens - 1);
}

const memo = new Map<string, CostModel>();

/**
 * Times one single-position step and one parallel pass per module size on
 * the current backend (after a warm-up), for block 0 of the model with the
 * given batch and guidance. Results are memoised per model/backend/batch.
 */
export function calibrateCost(
  model: TarFlow,
  options: { batch: number; labels?: tf.Tensor1D; guidance?: GuidanceSettings; repeats?: number; sizes?: number[]; engine?: SamplingEngine },
): CostModel {
  const engine = chooseEngine(options.engine).name;
  const T = model.tokens;
  const guided = !!options.guidance && options.guidance.scale > 0;
  const sizes = [...new Set((options.sizes ?? [1, 2, 4, 8, 16, 32, 64, 128, 256, T - 1]).filter((n) => n >= 1 && n <= T - 1))].sort((a, b) => a - b);
  const key = `${tf.getBackend()}|${engine}|${model.blocks.map((b) => b.projOut.weight.id).join(',')}|${options.batch}|${guided}|${sizes.join(',')}|${options.repeats ?? 5}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const repeats = options.repeats ?? 5;
  const B = options.batch;
  const map = model.samplingMap(0, options.labels, options.guidance, engine);
  const x = tf.randomNormal([B, T, model.patchDim], 0, 1, 'float32', 1) as PatchSeq;
  const timeEval = (start: number, n: number): number => {
    // Cache of `start` positions, then one evaluation of n positions.
    let cache = map.emptyCache(B);
    if (start > 0) {
      const head = tf.slice(x, [0, 0, 0], [-1, start, -1]) as PatchSeq;
      const r = map.evaluate(head, 0, cache);
      tf.dispose([head, r.params.logScale, r.params.shift]);
      map.disposeCache(cache);
      cache = r.cache;
    }
    const span = tf.slice(x, [0, start, 0], [-1, n, -1]) as PatchSeq;
    const times: number[] = [];
    for (let i = 0; i < repeats + 1; i++) {
      const t0 = performance.now();
      const r = map.evaluate(span, start, cache);
      // A residual-style readback forces completion on asynchronous backends too.
      tf.tidy(() => tf.max(tf.abs(r.params.shift)).dataSync());
      const t1 = performance.now();
      tf.dispose([r.params.logScale, r.params.shift]);
      map.disposeCache(r.cache);
      if (i > 0) times.push(t1 - t0);
    }
    span.dispose();
    map.disposeCache(cache);
    return median(times);
  };
  const half = Math.floor((T - 1) / 2);
  const stepMs = timeEval(half, 1);
  const pass = sizes.map((n) => ({ positions: n, ms: timeEval(Math.max(0, T - 1 - n), n) }));
  // One joint iteration: the stacked evaluation of every block.
  const chain = model.samplingChain(options.labels, options.guidance, engine);
  const xs = model.blocks.map(() => x);
  const joint: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    const t0 = performance.now();
    const ps = chain.evaluateFrom(0, xs);
    tf.tidy(() => tf.max(tf.abs(ps[ps.length - 1].shift)).dataSync());
    const t1 = performance.now();
    ps.forEach((p) => tf.dispose([p.logScale, p.shift]));
    if (i > 0) joint.push(t1 - t0);
  }
  chain.dispose();
  x.dispose();
  const cost: CostModel = { backend: tf.getBackend(), engine, batch: B, guided, stepMs, pass, jointPassMs: median(joint) };
  memo.set(key, cost);
  return cost;
}

/**
 * A cost model from five evaluations, for planning inside a sampling run:
 * a warm-up step, then three timed single-position steps (the median) and one timed pass over
 * `positions` positions (default: an eighth of the block), both from an
 * empty cache. Other pass sizes are interpolated, longer
 * ones taken as proportional, and a joint iteration as the blocks' passes
 * summed (what it costs on a CPU backend; a GPU stacks them for less, which
 * only makes this estimate cautious).
 */
export function quickCost(model: TarFlow, options: { batch: number; labels?: tf.Tensor1D; guidance?: GuidanceSettings; positions?: number; engine?: SamplingEngine }): CostModel {
  const engine = chooseEngine(options.engine).name;
  const T = model.tokens;
  const B = options.batch;
  const full = Math.max(1, T - 1);
  const n = Math.min(full, Math.max(1, options.positions ?? Math.ceil(full / 8)));
  const map = model.samplingMap(0, options.labels, options.guidance, engine);
  const x = tf.randomNormal([B, n, model.patchDim], 0, 1, 'float32', 1) as PatchSeq;
  const timeEval = (k: number): number => {
    const cache = map.emptyCache(B);
    const span = tf.slice(x, [0, 0, 0], [-1, k, -1]) as PatchSeq;
    const t0 = performance.now();
    const r = map.evaluate(span, 0, cache);
    tf.tidy(() => tf.max(tf.abs(r.params.shift)).dataSync());
    const ms = performance.now() - t0;
    tf.dispose([span, r.params.logScale, r.params.shift]);
    map.disposeCache(r.cache);
    map.disposeCache(cache);
    return ms;
  };
  try {
    timeEval(1); // warm-up
    const stepMs = median([timeEval(1), timeEval(1), timeEval(1)]); // steps are cheap: three, against noise
    const pass = [{ positions: 1, ms: stepMs }, ...(n > 1 ? [{ positions: n, ms: timeEval(n) }] : [])];
    const cost: CostModel = { backend: tf.getBackend(), engine, batch: B, guided: !!options.guidance && options.guidance.scale > 0, stepMs, pass };
    return { ...cost, jointPassMs: model.blocks.length * passMs(cost, full), jointEstimated: true };
  } finally {
    x.dispose();
  }
}
