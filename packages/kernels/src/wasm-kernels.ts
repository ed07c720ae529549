/**
 * The fused kernels on the wasm backend through the SIMD module (simd/kernels.wat),
 * which works in place on the backend's heap: each tensor is a byte offset there.
 * The same formulas as math.ts (its header). Linear layers multiply W as stored
 * ([out, in]) with the SIMD module's `linear` (measured 35–40 GFLOP/s on one
 * thread, at or above the backend's XNNPACK at every size of the default model);
 * a caller that gives Wᵀ (`weightT`, [in, out]) gets XNNPACK (bias fused) from
 * WASM_XNNPACK_MIN_ROWS rows. Each function returns null when the shapes are
 * not the SIMD module's (a row length not a multiple of 4): the caller then
 * runs the JavaScript loops.
 */
import { tf } from '@tarflow/tensor';
import { affineRows, type GuidanceAttrs, LAYER_NORM_EPS } from './math.js';
import type { BackendMemory } from './memory.js';
import type { SimdKernels } from './simd/module.js';

type Info = tf.TensorInfo;

interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
}

export interface SimdContext {
  backend: object;
  simd: SimdKernels;
  mem: BackendMemory;
  /** Rows from which XNNPACK multiplies. */
  xnnpackMinRows: number;
}

const quads = (...n: number[]) => n.every((v) => v % 4 === 0);

/** Throws unless W is [N, K] and b is [N]: the SIMD module reads exactly those ranges. */
function checkLinear(weight: Info, bias: Info, K: number): void {
  const [N, k] = weight.shape;
  if (weight.shape.length !== 2 || k !== K || bias.shape.reduce((a, b) => a * b, 1) !== N) {
    throw new Error(`fused kernels: a linear layer of ${K} inputs got weights [${weight.shape}] and bias [${bias.shape}]`);
  }
}

/** Throws unless LayerNorm's weight and bias hold K values each. */
function checkNorm(weight: Info, bias: Info, K: number): void {
  const size = (t: Info) => t.shape.reduce((a, b) => a * b, 1);
  if (size(weight) !== K || size(bias) !== K) throw new Error(`fused kernels: LayerNorm over ${K} channels got [${weight.shape}] and [${bias.shape}]`);
}

/** Throws unless qkv [R, n, 3C] fits the cache [L, 2, R, H, T, hd] with C = H · hd. */
function checkAttention(qkv: Info, cache: Info): void {
  const [R, , C3] = qkv.shape;
  const [, two, Rc, H, , hd] = cache.shape;
  if (cache.shape.length !== 6 || two !== 2 || Rc !== R || C3 !== 3 * H * hd) {
    throw new Error(`fused attention: queries/keys/values [${qkv.shape}] do not fit the cache [${cache.shape}]`);
  }
}

function offset(ctx: SimdContext, t: Info): number {
  const d = (ctx.backend as WasmBackend).dataIdMap.get(t.dataId);
  if (!d) throw new Error('fused kernels: tensor is not on the wasm backend');
  return d.memoryOffset;
}

interface Emscripten {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** Runs f over a block of `floats` floats malloc'd on the backend's heap for the call (no tensor). */
function withScratch<T>(ctx: SimdContext, floats: number, f: (ptr: number) => T): T {
  const em = (ctx.backend as { wasm: Emscripten }).wasm;
  // Unsigned: the heap may grow past 2 GiB, where _malloc's i32 result reads as negative in JS.
  const ptr = em._malloc(floats * 4) >>> 0;
  if (!ptr) throw new Error('fused kernels: out of wasm memory');
  try {
    return f(ptr);
  } finally {
    em._free(ptr);
  }
}

/**
 * y[M, N] = x[M, K] Wᵀ + b, then `use` reads it (a view of the heap, valid during the call):
 * XNNPACK into a temporary tensor from WASM_XNNPACK_MIN_ROWS rows with Wᵀ, else the SIMD module into scratch.
 */
function gemmInto<T>(ctx: SimdContext, x: Info, M: number, K: number, weight: Info, weightT: Info | undefined, bias: Info, use: (y: Float32Array) => T): T {
  checkLinear(weight, bias, K);
  const N = weight.shape[0];
  if (weightT && M >= ctx.xnnpackMinRows) {
    const y = gemm(ctx, x, M, K, weight, weightT, bias);
    try {
      return use(ctx.mem.floats(y).subarray(0, M * N));
    } finally {
      ctx.mem.free(y);
    }
  }
  return withScratch(ctx, M * N, (ptr) => {
    ctx.simd.linear(offset(ctx, x), M, K, offset(ctx, weight), N, offset(ctx, bias), ptr);
    return use(new Float32Array(ctx.simd.memory.buffer, ptr, M * N));
  });
}

/** y[M, N] = x[M, K] Wᵀ + b into a new tensor [M, N] (x a tensor with M · K values). */
function gemm(ctx: SimdContext, x: Info, M: number, K: number, weight: Info, weightT: Info | undefined, bias: Info): Info {
  checkLinear(weight, bias, K);
  const N = weight.shape[0];
  if (weightT && M >= ctx.xnnpackMinRows) {
    const fused = tf.getKernel('_FusedMatMul', 'wasm');
    if (fused) {
      return fused.kernelFunc({
        inputs: { a: { ...x, shape: [1, M, K] }, b: { ...weightT, shape: [1, K, N] }, bias },
        backend: ctx.backend as tf.KernelBackend,
        attrs: { transposeA: false, transposeB: false, activation: 'linear' },
      }) as Info;
    }
  }
  const y = ctx.mem.alloc([M, N]);
  ctx.simd.linear(offset(ctx, x), M, K, offset(ctx, weight), N, offset(ctx, bias), offset(ctx, y));
  return y;
}

export function simdLinear(ctx: SimdContext, inputs: Record<string, Info>, useGelu: boolean): Info | null {
  const { x, weight, weightT, bias, normWeight, normBias, residual } = inputs;
  const K = x.shape[x.shape.length - 1];
  const M = x.shape.reduce((a, b) => a * b, 1) / K;
  const N = weight.shape[0];
  if (!quads(K, N) || M === 0) return null;
  let src = x;
  if (normWeight && normBias) {
    checkNorm(normWeight, normBias, K);
    src = ctx.mem.alloc([M, K]);
    ctx.simd.layer_norm(offset(ctx, x), offset(ctx, src), M, K, offset(ctx, normWeight), offset(ctx, normBias), LAYER_NORM_EPS);
  }
  const y = gemm(ctx, src, M, K, weight, weightT, bias);
  if (src !== x) ctx.mem.free(src);
  if (useGelu) ctx.simd.gelu(offset(ctx, y), M * N);
  if (residual) ctx.simd.add(offset(ctx, y), offset(ctx, residual), M * N);
  return { dataId: y.dataId, shape: [...x.shape.slice(0, -1), N], dtype: 'float32' };
}

/** The mean class embedding of a table [K, C], kept per table storage (weights do not change in place during sampling). */
const means = new WeakMap<object, Float32Array>();
function meanEmbedding(table: Info, values: Float32Array, K: number, C: number): Float32Array {
  let mean = means.get(table.dataId);
  if (!mean) {
    const m = new Float64Array(C);
    for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) m[c] += values[k * C + c];
    mean = new Float32Array(C);
    for (let c = 0; c < C; c++) mean[c] = m[c] / K;
    means.set(table.dataId, mean);
  }
  return mean;
}

export function simdEmbed(ctx: SimdContext, inputs: Record<string, Info>, attrs: { start: number; copies: number }): Info | null {
  const { x, weight, weightT, bias, pos, labels, classEmbed } = inputs;
  const [B, n, D] = x.shape;
  const C = weight.shape[0];
  if (!quads(C, D) || B * n === 0) return null;
  const { start, copies } = attrs;
  const classes = classEmbed ? classEmbed.shape[0] : 0;
  const out = ctx.mem.alloc([copies * B, n, C]);
  // x W_inᵀ + b for the B · n input rows, then per output row + pos + class.
  gemmInto(ctx, x, B * n, D, weight, weightT, bias, (p) => {
    const h = ctx.mem.floats(out);
    const ps = ctx.mem.floats(pos);
    const table = classEmbed ? ctx.mem.floats(classEmbed) : null;
    const ls = labels ? ctx.mem.ints(labels) : null;
    const mean = table && classEmbed ? meanEmbedding(classEmbed, table, classes, C) : null;
    for (let r = 0; r < copies * B; r++) {
      const label = table && ls && r < B ? ls[r] : -1;
      if (label >= classes && table) throw new Error(`fused embedding: label ${label} is not a class of this model (0…${classes - 1})`);
      const cls = table ? (label >= 0 ? table.subarray(label * C, (label + 1) * C) : mean) : null;
      for (let i = 0; i < n; i++) {
        const po = ((r % B) * n + i) * C;
        const ho = (r * n + i) * C;
        const so = (start + i) * C;
        if (cls) for (let c = 0; c < C; c++) h[ho + c] = p[po + c] + ps[so + c] + cls[c];
        else for (let c = 0; c < C; c++) h[ho + c] = p[po + c] + ps[so + c];
      }
    }
  });
  return out;
}

export function simdAttention(ctx: SimdContext, inputs: Record<string, Info>, attrs: { layer: number; start: number; scales: number[] }): Info | null {
  const { qkv, cache } = inputs;
  const [R, n, C3] = qkv.shape;
  const [L, , , H, T, hd] = cache.shape;
  const { layer, start, scales } = attrs;
  checkAttention(qkv, cache);
  if (!quads(hd) || R * n === 0 || layer < 0 || layer >= L || start + n > T || scales.length < R) return null;
  const out = ctx.mem.alloc([R, n, C3 / 3]);
  withScratch(ctx, R + T, (sc) => { // scales, then the scores of one query
    new Float32Array(ctx.simd.memory.buffer, sc, R).set(scales);
    const block = R * H * T * hd * 4; // bytes of one layer's keys (or values)
    const kc = offset(ctx, cache) + 2 * layer * block;
    ctx.simd.attention(offset(ctx, qkv), kc, kc + block, offset(ctx, out), sc + 4 * R, R, n, H, hd, T, start, sc);
  });
  return out;
}

export function simdAffine(
  ctx: SimdContext,
  inputs: Record<string, Info>,
  attrs: { batch: number; dim: number; nvp: boolean; tokens: number; start: number; guidance: GuidanceAttrs | null },
): Info[] | null {
  const { x, weight, weightT, bias } = inputs;
  const [R, n, C] = x.shape;
  const P = weight.shape[0];
  if (!quads(C, P) || R * n === 0) return null;
  const { batch, dim, nvp, tokens, start, guidance } = attrs;
  const logScale = ctx.mem.alloc([batch, n, dim]);
  const shift = ctx.mem.alloc([batch, n, dim]);
  gemmInto(ctx, x, R * n, C, weight, weightT, bias, (y) =>
    affineRows(y, batch, n, dim, nvp, guidance, tokens, start, ctx.mem.floats(logScale), ctx.mem.floats(shift)));
  return [logScale, shift];
}

/** The weights of one transformer layer as kernel inputs (see layer.ts). */
export interface LayerInputs {
  x: Info;
  cache: Info;
  attnNormWeight: Info;
  attnNormBias: Info;
  qkvWeight: Info;
  qkvBias: Info;
  projWeight: Info;
  projBias: Info;
  mlpNormWeight: Info;
  mlpNormBias: Info;
  fc1Weight: Info;
  fc1Bias: Info;
  fc2Weight: Info;
  fc2Bias: Info;
  qkvWeightT?: Info;
  projWeightT?: Info;
  fc1WeightT?: Info;
  fc2WeightT?: Info;
}

/**
 * One transformer layer, h ← h + proj(attn(LN(h))), h ← h + fc2(GELU(fc1(LN(h)))), in one
 * kernel: below the XNNPACK threshold the intermediates live in one block malloc'd on the
 * heap for the call (no tensors); from it, the layer runs the per-op functions above.
 */
export function simdLayer(ctx: SimdContext, inputs: LayerInputs, attrs: { layer: number; start: number; scales: number[] }): Info | null {
  const { x, cache } = inputs;
  const [R, n, C] = x.shape;
  const [L, , , H, T, hd] = cache.shape;
  const E = inputs.fc1Weight.shape[0];
  const M = R * n;
  const { layer, start, scales } = attrs;
  checkAttention({ ...x, shape: [R, n, 3 * C] }, cache);
  for (const [w, b, k] of [
    [inputs.qkvWeight, inputs.qkvBias, C], [inputs.projWeight, inputs.projBias, C],
    [inputs.fc1Weight, inputs.fc1Bias, C], [inputs.fc2Weight, inputs.fc2Bias, E],
  ] as const) checkLinear(w, b, k);
  checkNorm(inputs.attnNormWeight, inputs.attnNormBias, C);
  checkNorm(inputs.mlpNormWeight, inputs.mlpNormBias, C);
  if (inputs.qkvWeight.shape[0] !== 3 * C || inputs.projWeight.shape[0] !== C || inputs.fc2Weight.shape[0] !== C) {
    throw new Error(`fused layer: weights do not map ${C} channels to ${C}`);
  }
  if (!quads(C, E, hd) || M === 0 || layer < 0 || layer >= L || start + n > T || scales.length < R) return null;
  if (inputs.qkvWeightT && M >= ctx.xnnpackMinRows) {
    const lin = (src: Info, w: Info, wt: Info | undefined, b: Info, extra: Record<string, Info>, gelu = false) =>
      simdLinear(ctx, { x: src, weight: w, weightT: wt as Info, bias: b, ...extra }, gelu)!;
    const qkv = lin(x, inputs.qkvWeight, inputs.qkvWeightT, inputs.qkvBias, { normWeight: inputs.attnNormWeight, normBias: inputs.attnNormBias });
    const att = simdAttention(ctx, { qkv: { ...qkv, shape: [R, n, 3 * C] }, cache }, attrs)!;
    const h1 = lin(att, inputs.projWeight, inputs.projWeightT, inputs.projBias, { residual: x });
    const hid = lin(h1, inputs.fc1Weight, inputs.fc1WeightT, inputs.fc1Bias, { normWeight: inputs.mlpNormWeight, normBias: inputs.mlpNormBias }, true);
    const out = lin(hid, inputs.fc2Weight, inputs.fc2WeightT, inputs.fc2Bias, { residual: h1 });
    for (const t of [qkv, att, h1, hid]) ctx.mem.free(t);
    return out;
  }
  const out = ctx.mem.alloc([R, n, C]);
  // [M, C] LayerNorm, [M, 3C] qkv, [M, C] attention (then the MLP's output), [M, E] hidden, R scales, T scores
  withScratch(ctx, M * C + M * 3 * C + M * C + M * E + R + T, (ln) => {
    const qkv = ln + M * C * 4;
    const att = qkv + M * 3 * C * 4;
    const hid = att + M * C * 4;
    const sc = hid + M * E * 4;
    const scores = sc + R * 4;
    new Float32Array(ctx.simd.memory.buffer, sc, R).set(scales);
    const at = (t: Info) => offset(ctx, t);
    const o = at(out);
    const s = ctx.simd;
    s.layer_norm(at(x), ln, M, C, at(inputs.attnNormWeight), at(inputs.attnNormBias), LAYER_NORM_EPS);
    s.linear(ln, M, C, at(inputs.qkvWeight), 3 * C, at(inputs.qkvBias), qkv);
    const kc = at(cache) + 2 * layer * R * H * T * hd * 4;
    s.attention(qkv, kc, kc + R * H * T * hd * 4, att, scores, R, n, H, hd, T, start, sc);
    s.linear(att, M, C, at(inputs.projWeight), C, at(inputs.projBias), o);
    s.add(o, at(x), M * C);
    s.layer_norm(o, ln, M, C, at(inputs.mlpNormWeight), at(inputs.mlpNormBias), LAYER_NORM_EPS);
    s.linear(ln, M, C, at(inputs.fc1Weight), E, at(inputs.fc1Bias), hid);
    s.gelu(hid, M * E);
    s.linear(hid, M, E, at(inputs.fc2Weight), C, at(inputs.fc2Bias), att);
    s.add(o, att, M * C);
  });
  return out;
}
