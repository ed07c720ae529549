/**
 * The few layers TarFlow needs, as plain functions over parameter records.
 * Linear weights are kept in PyTorch's [out, in] layout.
 */
import { tf } from '@tarflow/tensor';

export interface LinearParams {
  weight: tf.Variable; // [out, in]
  bias: tf.Variable; // [out]
}

export interface NormParams {
  weight: tf.Variable; // [C]
  bias: tf.Variable; // [C]
}

export const LAYER_NORM_EPS = 1e-5;

/** y = x Wᵀ + b over the last axis of a [..., in] tensor. */
export function linear(x: tf.Tensor, p: LinearParams): tf.Tensor {
  const shape = x.shape;
  const inDim = shape[shape.length - 1];
  const outDim = p.weight.shape[0];
  const x2 = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  const y = tf.add(tf.matMul(x2, p.weight as tf.Tensor2D, false, true), p.bias);
  return tf.reshape(y, [...shape.slice(0, -1), outDim]);
}

/** LayerNorm over the last axis (biased variance, eps 1e-5, as torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor, p: NormParams): tf.Tensor {
  const axis = x.rank - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS)));
  return tf.add(tf.mul(normed, p.weight), p.bias);
}

/** Exact (erf) GELU, as torch.nn.GELU(). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/**
 * Scaled dot-product attention softmax(q kᵀ · scale + mask) v over [N, heads, n, hd]
 * queries and [N, heads, total, hd] keys/values; `scale` is one number or one per row [N, 1, 1, 1].
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number | tf.Tensor, mask: tf.Tensor | null): tf.Tensor4D {
  const scores = tf.mul(tf.matMul(q, k, false, true), scale);
  return tf.matMul(tf.softmax(mask ? tf.add(scores, mask) : scores), v);
}

/**
 * The additive causal mask of queries [start, start + n) over keys [0, start + n)
 * (0 where the lower-triangular `attnMask` allows, −1e9 elsewhere); null for a
 * single query, which may see every earlier key.
 */
export function causalMask(attnMask: tf.Tensor2D, start: number, n: number): tf.Tensor | null {
  return n > 1 ? tf.mul(tf.sub(1, tf.slice(attnMask, [start, 0], [n, start + n])), -1e9) : null;
}

/**
 * A Linear layer with PyTorch's default initialisation (uniform ±1/√in);
 * `zeroWeight` starts the weight at zero (the bias keeps its initialisation).
 */
export function initLinear(inDim: number, outDim: number, seed: number, zeroWeight = false): LinearParams {
  const bound = 1 / Math.sqrt(inDim);
  return tf.tidy(() => ({
    weight: tf.variable(zeroWeight ? tf.zeros([outDim, inDim]) : tf.randomUniform([outDim, inDim], -bound, bound, 'float32', seed)),
    bias: tf.variable(tf.randomUniform([outDim], -bound, bound, 'float32', seed + 1)),
  }));
}

/** A LayerNorm's parameters at their initial values (weight 1, bias 0). */
export function initNorm(dim: number): NormParams {
  return tf.tidy(() => ({ weight: tf.variable(tf.ones([dim])), bias: tf.variable(tf.zeros([dim])) }));
}
