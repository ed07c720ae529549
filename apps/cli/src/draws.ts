/**
 * The random draws of a sampling run, derived per sample from (seed, global
 * sample index) so that any subset of a run — a shard, a chunk — gets exactly
 * the noise and labels the whole run would give those samples.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { deriveSeed, mulberry32 } from '@tarflow/data';

/** Standard-normal noise [indices.length, tokens, dim]; sample i uses the seed deriveSeed(seed, i). */
export function seededNoise(seed: number, indices: readonly number[], tokens: number, dim: number): PatchSeq {
  return tf.tidy(() =>
    tf.concat(
      indices.map((i) => tf.randomNormal([1, tokens, dim], 0, 1, 'float32', deriveSeed(seed, i))),
      0,
    ),
  ) as PatchSeq;
}

/** A uniformly random class in [0, numClasses) for each index, from deriveSeed(seed, i, 1). */
export function seededLabels(seed: number, indices: readonly number[], numClasses: number): Int32Array {
  return Int32Array.from(indices, (i) => Math.floor(mulberry32(deriveSeed(seed, i, 1))() * numClasses));
}
