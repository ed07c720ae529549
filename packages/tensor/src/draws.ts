import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, tfSeed } from './random.js';

/**
 * Standard-normal noise [indices.length, tokens, dim] where sample i is drawn
 * from the seed deriveSeed(seed, i): any subset of a run (a shard, a chunk, a
 * re-run of one sample) gets exactly the noise the whole run gives it.
 */
export function seededNoise(seed: number, indices: readonly number[], tokens: number, dim: number): tf.Tensor3D {
  if (indices.length === 0) return tf.zeros([0, tokens, dim]) as tf.Tensor3D;
  return tf.tidy(() =>
    tf.concat(
      // deriveSeed gives 0 (tfjs: "no seed") for one input in 2³².
      indices.map((i) => tf.randomNormal([1, tokens, dim], 0, 1, 'float32', tfSeed(deriveSeed(seed, i)))),
      0,
    ),
  ) as tf.Tensor3D;
}
