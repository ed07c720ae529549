/**
 * The fused TarFlow kernels, registered with tfjs for the cpu and wasm
 * backends and dispatched through the engine (tf.engine().runKernel), so
 * tfjs stays the one engine: its memory accounting, tidy and profile see
 * every kernel. One sequential block-step is
 *
 *   TarflowEmbed                                   h = x W_inᵀ + b + pos + class
 *   per layer:
 *     TarflowLinear (LayerNorm → qkv)              a = LN(h) W_qkvᵀ + b
 *     TarflowAttention (KV cache written in place) o = softmax(s q Kᵀ + mask) V
 *     TarflowLinear (+ residual)                   h = h + o W_projᵀ + b
 *     TarflowLinear (LayerNorm → fc1 → GELU)       m = GELU(LN(h) W_1ᵀ + b)
 *     TarflowLinear (+ residual)                   h = h + m W_2ᵀ + b
 *   TarflowAffine (projection, split, guidance)    (α, γ)
 *
 * — 2 + 5·layers kernels instead of ~185 plain ones. On cpu and wasm a layer's
 * five run as one TarflowLayer kernel (layer.ts): 2 + layers per block-step.
 * On wasm every kernel runs the SIMD module (simd/kernels.wat) in place on the
 * backend's heap (wasm-kernels.ts); the JavaScript loops below are the cpu
 * backend's path and wasm's fallback.
 */
import { tf } from '@tarflow/tensor';
import { addBias, affineRows, attendRows, embedRows, epilogue, layerNormRows, linearRows, type GuidanceAttrs } from './math.js';
import { backendMemory, type BackendMemory } from './memory.js';
import { registerWebGPUKernels } from './webgpu/kernels.js';
import { simdKernels } from './simd/module.js';
import { simdAffine, simdAttention, simdEmbed, simdLayer, simdLinear, type LayerInputs, type SimdContext } from './wasm-kernels.js';
import { LAYER, layerKernel } from './layer.js';

export const EMBED = 'TarflowEmbed';
export const LINEAR = 'TarflowLinear';
export const ATTENTION = 'TarflowAttention';
export const AFFINE = 'TarflowAffine';
export const FUSED_KERNELS = [EMBED, LINEAR, ATTENTION, AFFINE] as const;

/** Backends whose storage the kernels address from JavaScript. */
export const FUSED_BACKENDS = ['cpu', 'wasm'] as const;
type FusedBackend = (typeof FUSED_BACKENDS)[number];

/**
 * Multiply-adds from which a wasm linear layer calls the backend's own GEMM (_FusedMatMul, XNNPACK) when the
 * SIMD kernels (kernels.wat) are unavailable; with them, the layers below WASM_XNNPACK_MIN_ROWS rows use theirs.
 */
export const WASM_GEMM_MIN_MACS = 1 << 16;

/**
 * Rows from which a wasm linear layer given Wᵀ (`weightT`) calls XNNPACK's GEMM rather than the SIMD module's.
 * The block map gives no Wᵀ: the SIMD module's GEMM matched or beat XNNPACK at every size of the default model.
 */
export const WASM_XNNPACK_MIN_ROWS = 64;

type Info = tf.TensorInfo;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function embedKernel(mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { x, weight, bias, pos, labels, classEmbed } = inputs as Record<string, Info>;
  const { start, copies } = attrs as { start: number; copies: number };
  const [B, n, D] = x.shape;
  const C = weight.shape[0];
  const classes = classEmbed ? classEmbed.shape[0] : 0;
  const out = mem.alloc([copies * B, n, C]);
  embedRows(
    mem.floats(x), B, n, D, mem.floats(weight), mem.floats(bias), C, mem.floats(pos), start,
    labels ? mem.ints(labels) : null, classEmbed ? mem.floats(classEmbed) : null, classes, copies, mem.floats(out),
  );
  return out;
}

function linearKernel(name: FusedBackend, backend: object, mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { x, weight, weightT, bias, normWeight, normBias, residual } = inputs as Record<string, Info>;
  const { gelu } = attrs as { gelu: boolean };
  const K = x.shape[x.shape.length - 1];
  const M = size(x.shape) / K;
  const N = weight.shape[0];
  const outShape = [...x.shape.slice(0, -1), N];
  const norm = normWeight && normBias;
  const gemm = name === 'wasm' ? tf.getKernel('_FusedMatMul', 'wasm') : undefined;
  if (gemm && M * N * K >= WASM_GEMM_MIN_MACS) {
    // LayerNorm into a temporary, then the backend's GEMM, then bias and epilogue in place. The GEMM
    // wants Wᵀ [K, N]: with transposeB it runs a path ~10× slower and adds a bias wrongly (tfjs-backend-wasm
    // 4.22), so callers pass weightT where they can, and the bias is added here.
    let src = x;
    if (norm) {
      src = mem.alloc([M, K]);
      layerNormRows(mem.floats(x), mem.floats(src), M, K, mem.floats(normWeight), mem.floats(normBias));
    }
    const y = gemm.kernelFunc({
      inputs: { a: { ...src, shape: [1, M, K] }, b: weightT ? { ...weightT, shape: [1, K, N] } : { ...weight, shape: [1, N, K] } },
      backend: backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: !weightT, activation: 'linear' },
    }) as Info;
    if (norm) mem.free(src);
    const ys = mem.floats({ ...y, shape: [M * N] });
    addBias(ys, M, N, mem.floats(bias));
    epilogue(ys, M * N, gelu, residual ? mem.floats(residual) : null);
    return { dataId: y.dataId, shape: outShape, dtype: 'float32' };
  }
  const out = mem.alloc(outShape);
  let xs = mem.floats(x);
  if (norm) {
    const tmp = new Float32Array(M * K);
    layerNormRows(xs, tmp, M, K, mem.floats(normWeight), mem.floats(normBias));
    xs = tmp;
  }
  const y = mem.floats(out);
  linearRows(xs, M, K, mem.floats(weight), mem.floats(bias), N, y);
  epilogue(y, M * N, gelu, residual ? mem.floats(residual) : null);
  return out;
}

function attentionKernel(mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { qkv, cache } = inputs as Record<string, Info>;
  const { layer, start, scales } = attrs as { layer: number; start: number; scales: number[] };
  const [R, n, C3] = qkv.shape;
  const [, , , H, T, hd] = cache.shape;
  const out = mem.alloc([R, n, C3 / 3]);
  attendRows(mem.floats(qkv), mem.floats(cache), mem.floats(out), R, n, H, hd, T, layer, start, scales);
  return out;
}

function affineAttrs(attrs: tf.NamedAttrMap) {
  const { batch, dim, nvp, tokens, start, guided, scale, on, annealed } = attrs as {
    batch: number; dim: number; nvp: boolean; tokens: number; start: number; guided: boolean;
    scale: number; on: GuidanceAttrs['on']; annealed: boolean;
  };
  return { batch, dim, nvp, tokens, start, guidance: guided ? { scale, on, annealed } : null };
}

function affineKernel(mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info[] {
  const { x, weight, bias } = inputs as Record<string, Info>;
  const { batch, dim, nvp, tokens, start, guidance } = affineAttrs(attrs);
  const [R, n, C] = x.shape;
  const P = weight.shape[0];
  const logScale = mem.alloc([batch, n, dim]);
  const shift = mem.alloc([batch, n, dim]);
  const y = new Float32Array(R * n * P);
  linearRows(mem.floats(x), R * n, C, mem.floats(weight), mem.floats(bias), P, y);
  affineRows(y, batch, n, dim, nvp, guidance, tokens, start, mem.floats(logScale), mem.floats(shift));
  return [logScale, shift];
}

/** The SIMD context of a wasm backend (null on cpu, or where the SIMD module cannot run). */
function simdContext(name: FusedBackend, backend: object, mem: BackendMemory): SimdContext | null {
  if (name !== 'wasm') return null;
  const simd = simdKernels(backend);
  return simd ? { backend, simd, mem, xnnpackMinRows: WASM_XNNPACK_MIN_ROWS } : null;
}

let registered = false;

/** Registers the fused kernels for the cpu, wasm and webgpu backends (once per process). */
export function registerFusedKernels(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernels();
  for (const name of FUSED_BACKENDS) {
    const mem = (backend: object) => backendMemory(name, backend);
    // On wasm the SIMD module runs each kernel where it can (null: shapes it does not take), else the loops.
    const configs: Array<[string, tf.KernelFunc]> = [
      [EMBED, ({ inputs, backend, attrs }) => {
        const m = mem(backend);
        const ctx = simdContext(name, backend, m);
        return (ctx && simdEmbed(ctx, inputs as Record<string, Info>, attrs as { start: number; copies: number })) || embedKernel(m, inputs, attrs ?? {});
      }],
      [LINEAR, ({ inputs, backend, attrs }) => {
        const m = mem(backend);
        const ctx = simdContext(name, backend, m);
        return (ctx && simdLinear(ctx, inputs as Record<string, Info>, !!(attrs as { gelu?: boolean }).gelu)) || linearKernel(name, backend, m, inputs, attrs ?? {});
      }],
      [ATTENTION, ({ inputs, backend, attrs }) => {
        const m = mem(backend);
        const ctx = simdContext(name, backend, m);
        return (ctx && simdAttention(ctx, inputs as Record<string, Info>, attrs as { layer: number; start: number; scales: number[] })) || attentionKernel(m, inputs, attrs ?? {});
      }],
      [AFFINE, ({ inputs, backend, attrs }) => {
        const m = mem(backend);
        const ctx = simdContext(name, backend, m);
        return (ctx && simdAffine(ctx, inputs as Record<string, Info>, affineAttrs(attrs ?? {}))) || affineKernel(m, inputs, attrs ?? {});
      }],
      [LAYER, ({ inputs, backend, attrs }) => {
        const m = mem(backend);
        const ctx = simdContext(name, backend, m);
        const a = attrs as { layer: number; start: number; scales: number[] };
        return (ctx && simdLayer(ctx, inputs as unknown as LayerInputs, a)) || layerKernel(m, inputs as unknown as LayerInputs, a);
      }],
    ];
    for (const [kernelName, kernelFunc] of configs) {
      if (!tf.getKernel(kernelName, name)) tf.registerKernel({ kernelName, backendName: name, kernelFunc });
    }
  }
}

// ---------------------------------------------------------------- ops

function run(name: string, inputs: Record<string, tf.Tensor | undefined | null>, attrs: tf.NamedAttrMap): tf.Tensor | tf.Tensor[] {
  registerFusedKernels();
  const present: tf.NamedTensorMap = {};
  for (const [k, v] of Object.entries(inputs)) if (v) present[k] = v;
  return tf.engine().runKernel(name, present, attrs) as tf.Tensor | tf.Tensor[];
}

/** Linear layer parameters in PyTorch's layout: weight [out, in], bias [out]. */
export interface LinearWeights {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/** LayerNorm parameters: weight and bias [C]. */
export interface NormWeights {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/**
 * y = act(LN(x) Wᵀ + b) + residual over the last axis of x: LayerNorm when
 * `norm` is given, exact GELU when `gelu`, a residual add when `residual`.
 * `weightT` (Wᵀ, [in, out]) lets the wasm backend's GEMM run its fast path.
 */
export function fusedLinear(
  x: tf.Tensor,
  p: LinearWeights,
  options: { norm?: NormWeights; gelu?: boolean; residual?: tf.Tensor; weightT?: tf.Tensor } = {},
): tf.Tensor {
  return run(
    LINEAR,
    { x, weight: p.weight, weightT: options.weightT, bias: p.bias, normWeight: options.norm?.weight, normBias: options.norm?.bias, residual: options.residual },
    { gelu: !!options.gelu },
  ) as tf.Tensor;
}

/**
 * The input embedding of positions [start, start + n): x [B, n, D] →
 * [copies · B, n, C]. `pos` [T, C] is in the block's sampling order;
 * `classEmbed` [K, C] (or [K, 1, C]) is mixed per row: the label's embedding,
 * or the mean for label −1, no labels, and every row of the second copy.
 */
export function fusedEmbed(
  x: tf.Tensor,
  projIn: LinearWeights,
  pos: tf.Tensor,
  options: { start: number; copies?: 1 | 2; labels?: tf.Tensor1D; classEmbed?: tf.Tensor | null; weightT?: tf.Tensor },
): tf.Tensor {
  if (options.labels && options.labels.dtype !== 'int32') throw new Error('fusedEmbed: labels must be int32');
  return run(
    EMBED,
    {
      x, weight: projIn.weight, weightT: options.weightT, bias: projIn.bias, pos,
      labels: options.classEmbed ? options.labels : undefined, classEmbed: options.classEmbed,
    },
    { start: options.start, copies: options.copies ?? 1 },
  ) as tf.Tensor;
}

/**
 * Attention of the positions [start, start + n) of qkv [R, n, 3C] over layer
 * `layer` of the cache [L, 2, R, H, T, hd], whose positions [start, start + n)
 * it first overwrites with the new keys and values (in place). `scales`: the
 * softmax scale of each row (head_dim^−½ / attnTemp). Returns [R, n, C].
 */
export function cachedAttention(qkv: tf.Tensor, cache: tf.Tensor, options: { layer: number; start: number; scales: number[] }): tf.Tensor {
  return run(ATTENTION, { qkv, cache }, { layer: options.layer, start: options.start, scales: options.scales }) as tf.Tensor;
}

/** Guidance of an affine output: guideParams' formula (see @tarflow/solvers). */
export interface AffineGuidance {
  scale: number;
  on?: 'alpha' | 'gamma' | 'both';
  annealed?: boolean;
}

/**
 * The output projection and affine step of x [R, n, C]: (log-scale α, shift γ),
 * each [batch, n, D]. With guidance, R = 2·batch (conditional rows, then
 * unconditional ones) and p = p_c + w (p_c − p_u) on the guided parameter(s).
 */
export function fusedAffine(
  x: tf.Tensor,
  projOut: LinearWeights,
  options: { batch: number; dim: number; tokens: number; start: number; guidance?: AffineGuidance | null; weightT?: tf.Tensor },
): { logScale: tf.Tensor3D; shift: tf.Tensor3D } {
  const g = options.guidance;
  const nvp = projOut.weight.shape[0] === 2 * options.dim;
  const [logScale, shift] = run(AFFINE, { x, weight: projOut.weight, weightT: options.weightT, bias: projOut.bias }, {
    batch: options.batch,
    dim: options.dim,
    nvp,
    tokens: options.tokens,
    start: options.start,
    guided: !!g,
    scale: g?.scale ?? 0,
    on: g?.on ?? 'both',
    annealed: !!g?.annealed,
  }) as tf.Tensor[];
  return { logScale: logScale as tf.Tensor3D, shift: shift as tf.Tensor3D };
}
