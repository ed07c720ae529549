import { tf, tfSeed } from '@tarflow/tensor';

export * from '@tarflow/test-fixtures';

/** A deterministic pseudo-random tensor. */
export function rand(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', tfSeed(seed)), scale));
}

/** LayerNorm over the last axis, as the plain ops compute it (biased variance, eps 1e-5). */
export function plainLayerNorm(x: tf.Tensor, p: { weight: tf.Tensor; bias: tf.Tensor }): tf.Tensor {
  const { mean, variance } = tf.moments(x, x.rank - 1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.weight), p.bias);
}

/** Exact (erf) GELU, as the plain ops compute it. */
export function plainGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}
