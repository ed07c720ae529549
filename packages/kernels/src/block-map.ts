/**
 * One TarFlow block as a CausalAffineMap on the fused kernels: the same
 * semantics as the model's samplingMap (labels, classifier-free guidance with
 * both branches in one pass of 2B rows, spans of n positions), with the KV
 * cache preallocated once per solve and written in place.
 *
 * A FusedCache is a view of a shared buffer [L, 2, R, H, T, hd] covering its
 * first `length` positions. evaluate(x, start, cache) writes positions
 * [start, start + n) and returns a longer view of the same buffer; the view it
 * was given still reads what it read before (its positions are untouched).
 * Should another live view of the buffer extend past `start` — a pattern the
 * solvers never use — evaluate first copies the buffer, so no view ever sees
 * values written for another. The buffer is freed with its last view.
 *
 * On cpu and wasm each transformer layer is one TarflowLayer kernel; on wasm
 * the kernels multiply W as stored (the SIMD module's GEMM matched or beat
 * the backend's XNNPACK on Wᵀ at every size of the default model), so a solve
 * transposes nothing.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import type { CausalAffineMap, GuidanceOptions } from '@tarflow/solvers';
import { cachedAttention, fusedAffine, fusedEmbed, fusedLinear, type LinearWeights, type NormWeights } from './kernels.js';
import { fusedLayer, hasLayerKernel } from './layer.js';

export interface FusedLayerWeights {
  attnNorm: NormWeights;
  qkv: LinearWeights; // [3C, C]
  proj: LinearWeights; // [C, C]
  mlpNorm: NormWeights;
  fc1: LinearWeights; // [E·C, C]
  fc2: LinearWeights; // [C, E·C]
}

/** One block's weights (PyTorch layouts); the block's flip is the caller's, as for the plain map. */
export interface FusedBlockWeights {
  projIn: LinearWeights; // [C, D]
  /** Position embeddings in the block's sampling order, [T, C]. */
  posEmbed: tf.Tensor;
  /** Class embeddings [K, C] (or [K, 1, C]); null for an unconditional model. */
  classEmbed: tf.Tensor | null;
  layers: FusedLayerWeights[];
  projOut: LinearWeights; // [2D, C] (log-scale then shift) or [D, C] (shift only)
}

export interface FusedBlockOptions {
  /** Attention heads H (head_dim = C / H). */
  heads: number;
  /** Class labels [B] (int32, −1 = unconditional); none: every row uses the mean class embedding. */
  labels?: tf.Tensor1D;
  /** Attention temperature of the conditional rows: one value, or one per sample. */
  attnTemp?: number | number[];
  /** Classifier-free guidance; a scale of 0 (or none) evaluates one branch. */
  guidance?: GuidanceOptions & { attnTemp?: number };
}

interface KVBuffer {
  tensor: tf.Tensor; // [L, 2, R, H, T, hd]
  views: Set<FusedCache>;
}

/** A view of a preallocated KV buffer covering positions [0, length). */
export interface FusedCache {
  readonly length: number;
  /** Batch size B (the buffer holds 2B rows under guidance). */
  readonly batch: number;
  readonly buffer: KVBuffer;
}

export function fusedBlockMap(weights: FusedBlockWeights, options: FusedBlockOptions): CausalAffineMap<FusedCache> {
  const [T, C] = weights.posEmbed.shape;
  const D = weights.projIn.weight.shape[1] as number;
  const L = weights.layers.length;
  const H = options.heads;
  if (!(Number.isInteger(H) && H > 0 && C % H === 0)) throw new Error(`fusedBlockMap: ${C} channels do not split into ${H} heads`);
  const hd = C / H;
  const g = options.guidance && options.guidance.scale > 0 ? options.guidance : null;
  if (g && !['alpha', 'gamma', 'both', undefined].includes(g.on)) throw new Error(`fusedBlockMap: unknown guidance target '${g.on}'`);
  const copies = g ? 2 : 1;
  const base = hd ** -0.5;

  const scalesFor = (B: number): number[] => {
    const t = options.attnTemp ?? 1;
    if (Array.isArray(t) && t.length !== B) throw new Error(`fusedBlockMap: ${t.length} attention temperatures for a batch of ${B}`);
    const cond = Array.from({ length: B }, (_, b) => base / (Array.isArray(t) ? t[b] : (t as number)));
    return g ? [...cond, ...new Array(B).fill(base / (g.attnTemp ?? 1))] : cond;
  };
  // The plain path computes base / temp in float64 and rounds to float32 once.
  const scaleCache = new Map<number, number[]>();
  const scales = (B: number) => {
    let s = scaleCache.get(B);
    if (!s) scaleCache.set(B, (s = scalesFor(B).map(Math.fround)));
    return s;
  };

  const release = (buffer: KVBuffer) => buffer.tensor.dispose();

  const view = (buffer: KVBuffer, length: number, batch: number): FusedCache => {
    const c: FusedCache = { length, batch, buffer };
    buffer.views.add(c);
    return c;
  };

  return {
    tokens: T,
    dim: D,
    emptyCache(batch) {
      const buffer: KVBuffer = { tensor: tf.zeros([L, 2, copies * batch, H, T, hd]), views: new Set() };
      return view(buffer, 0, batch);
    },
    evaluate(x, start, cache) {
      const [B, n] = x.shape;
      if (!cache.buffer.views.has(cache)) throw new Error('fusedBlockMap: the cache was disposed');
      if (cache.length !== start) throw new Error(`fusedBlockMap: cache holds ${cache.length} positions but evaluation starts at ${start}`);
      if (cache.batch !== B) throw new Error(`fusedBlockMap: cache is for a batch of ${cache.batch}, input has ${B}`);
      if (options.labels && options.labels.shape[0] !== B) throw new Error(`fusedBlockMap: ${options.labels.shape[0]} labels for a batch of ${B}`);
      if (start + n > T) throw new Error(`fusedBlockMap: positions ${start}…${start + n - 1} exceed the ${T} tokens`);
      let buffer = cache.buffer;
      if ([...buffer.views].some((v) => v !== cache && v.length > start)) {
        buffer = { tensor: tf.tidy(() => tf.mul(cache.buffer.tensor, 1)), views: new Set() };
      }
      const kv = buffer.tensor;
      const params = tf.tidy(() => {
        let h = fusedEmbed(x, weights.projIn, weights.posEmbed, { start, copies, labels: options.labels, classEmbed: weights.classEmbed });
        const oneKernel = hasLayerKernel();
        weights.layers.forEach((layer, l) => {
          if (oneKernel) {
            h = fusedLayer(h, kv, layer, { layer: l, start, scales: scales(B) });
            return;
          }
          const qkv = fusedLinear(h, layer.qkv, { norm: layer.attnNorm });
          const attn = cachedAttention(qkv, kv, { layer: l, start, scales: scales(B) });
          h = fusedLinear(attn, layer.proj, { residual: h });
          const hidden = fusedLinear(h, layer.fc1, { norm: layer.mlpNorm, gelu: true });
          h = fusedLinear(hidden, layer.fc2, { residual: h });
        });
        return fusedAffine(h, weights.projOut, { batch: B, dim: D, tokens: T, start, guidance: g });
      });
      return { params: { logScale: params.logScale as PatchSeq, shift: params.shift as PatchSeq }, cache: view(buffer, start + n, B) };
    },
    truncateCache(cache, length) {
      if (length > cache.length) throw new Error(`fusedBlockMap: cannot truncate a cache of ${cache.length} positions to ${length}`);
      return view(cache.buffer, length, cache.batch);
    },
    disposeCache(cache) {
      const b = cache.buffer;
      if (b.views.delete(cache) && b.views.size === 0) release(b);
    },
  };
}
