/**
 * One transformer layer of a TarFlow block as a single kernel (cpu and wasm),
 * the four-kernel sequence of block-map.ts in one dispatch:
 *
 *   a = LN(h) W_qkvᵀ + b                 (queries, keys, values of the span)
 *   o = softmax(s q Kᵀ + mask) V          (keys and values written into the cache first)
 *   h = h + o W_projᵀ + b
 *   h = h + GELU(LN(h) W_1ᵀ + b) W_2ᵀ + b
 *
 * Per sequential block-step that is 4 kernels (embedding, two layers, affine)
 * instead of 12: on cpu and wasm each dispatch costs more than a small layer's
 * arithmetic. Backends without it (webgpu) run the four kernels per layer.
 */
import { tf } from '@tarflow/tensor';
import { attendRows, epilogue, layerNormRows, linearRows } from './math.js';
import type { BackendMemory } from './memory.js';
import type { LayerInputs } from './wasm-kernels.js';
import { registerFusedKernels } from './kernels.js';

export const LAYER = 'TarflowLayer';

type Info = tf.TensorInfo;

/** The layer on JavaScript arrays (the cpu backend's path, and wasm's fallback). */
export function layerKernel(mem: BackendMemory, inputs: LayerInputs, attrs: { layer: number; start: number; scales: number[] }): Info {
  const { x, cache } = inputs;
  const [R, n, C] = x.shape;
  const [, , , H, T, hd] = cache.shape;
  const E = inputs.fc1Weight.shape[0];
  const M = R * n;
  const out = mem.alloc([R, n, C]);
  const f = (t: Info) => mem.floats(t);
  const ln = new Float32Array(M * C);
  const qkv = new Float32Array(M * 3 * C);
  const att = new Float32Array(M * C);
  const hid = new Float32Array(M * E);
  const h = f(out);
  layerNormRows(f(x), ln, M, C, f(inputs.attnNormWeight), f(inputs.attnNormBias));
  linearRows(ln, M, C, f(inputs.qkvWeight), f(inputs.qkvBias), 3 * C, qkv);
  attendRows(qkv, f(cache), att, R, n, H, hd, T, attrs.layer, attrs.start, attrs.scales);
  linearRows(att, M, C, f(inputs.projWeight), f(inputs.projBias), C, h);
  epilogue(h, M * C, false, f(x));
  layerNormRows(h, ln, M, C, f(inputs.mlpNormWeight), f(inputs.mlpNormBias));
  linearRows(ln, M, C, f(inputs.fc1Weight), f(inputs.fc1Bias), E, hid);
  epilogue(hid, M * E, true, null);
  linearRows(hid, M, E, f(inputs.fc2Weight), f(inputs.fc2Bias), C, att);
  epilogue(h, M * C, false, att);
  return out;
}

/** A layer's weights in PyTorch layouts (as FusedLayerWeights of block-map.ts). */
export interface LayerWeights {
  attnNorm: { weight: tf.Tensor; bias: tf.Tensor };
  qkv: { weight: tf.Tensor; bias: tf.Tensor };
  proj: { weight: tf.Tensor; bias: tf.Tensor };
  mlpNorm: { weight: tf.Tensor; bias: tf.Tensor };
  fc1: { weight: tf.Tensor; bias: tf.Tensor };
  fc2: { weight: tf.Tensor; bias: tf.Tensor };
}

/** Whether the current backend runs a layer as one kernel (cpu, wasm). */
export function hasLayerKernel(): boolean {
  registerFusedKernels();
  return !!tf.getKernel(LAYER, tf.getBackend());
}

/**
 * Layer `layer` of a block over h [R, n, C] at positions [start, start + n): writes the span's
 * keys and values into the cache [L, 2, R, H, T, hd] (in place) and returns the new h.
 * `scales`: each row's softmax scale; `weightT`: Wᵀ of the four linear layers, for the wasm
 * backend's GEMM (XNNPACK) on many rows.
 */
export function fusedLayer(
  h: tf.Tensor,
  cache: tf.Tensor,
  w: LayerWeights,
  options: { layer: number; start: number; scales: number[]; weightT?: Record<'qkv' | 'proj' | 'fc1' | 'fc2', tf.Tensor> },
): tf.Tensor {
  registerFusedKernels();
  const t = options.weightT;
  const inputs: Record<string, tf.Tensor | undefined> = {
    x: h, cache,
    attnNormWeight: w.attnNorm.weight, attnNormBias: w.attnNorm.bias,
    qkvWeight: w.qkv.weight, qkvBias: w.qkv.bias,
    projWeight: w.proj.weight, projBias: w.proj.bias,
    mlpNormWeight: w.mlpNorm.weight, mlpNormBias: w.mlpNorm.bias,
    fc1Weight: w.fc1.weight, fc1Bias: w.fc1.bias,
    fc2Weight: w.fc2.weight, fc2Bias: w.fc2.bias,
    qkvWeightT: t?.qkv, projWeightT: t?.proj, fc1WeightT: t?.fc1, fc2WeightT: t?.fc2,
  };
  const present: tf.NamedTensorMap = {};
  for (const [k, v] of Object.entries(inputs)) if (v) present[k] = v;
  return tf.engine().runKernel(LAYER, present, { layer: options.layer, start: options.start, scales: options.scales }) as tf.Tensor;
}
