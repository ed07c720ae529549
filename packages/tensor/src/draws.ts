import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed } from './random.js';

/**
 * Standard-normal noise [indices.length, tokens, dim] where sample i is drawn
 * from the seed deriveSeed(seed, i): any subset of a run (a shard, a chunk, a
 * re-run of one sample) gets exactly the noise the whole run gives it.
 */
export function seededNoise(seed: number, indices: readonly number[], tokens: number, dim: number): tf.Tensor3D {
  if (indices.length === 0) return tf.zeros([0, tokens, dim]) as tf.Tensor3D;
  return tf.tidy(() =>
    tf.concat(
      // tfjs reads seed 0 as "no seed"; deriveSeed gives 0 for one input in 2³².
      indices.map((i) => tf.randomNormal([1, tokens, dim], 0, 1, 'float32', deriveSeed(seed, i) || 0x9e3779b9)),
      0,
    ),
  ) as tf.Tensor3D;
}
