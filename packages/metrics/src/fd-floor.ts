/**
 * The reference side of a Fréchet distance measured with few samples:
 *   real  = (μ, Σ) of the features of all real images,
 *   floor = FD(n real images, real)
 * — the value n samples drawn from the data distribution itself score. FD
 * is biased upwards at small n, so rows are read against this floor.
 */
import { tf, type ImageBatch } from '@tarflow/tensor';
import { featureStats, frechetFromStats, type FeatureFn, type FeatureStats } from './quality.js';

export interface FrechetReference {
  /** Feature statistics of all the real images. */
  real: FeatureStats;
  /** FD of the first `count` real images against all of them. */
  floor: number;
}

/** Feature statistics of `real` and the FD noise floor at `count` samples. */
export function frechetReference(real: ImageBatch, features: FeatureFn, count: number): FrechetReference {
  const few = tf.slice(real, 0, Math.min(count, real.shape[0])) as ImageBatch;
  const all = featureStats(real, features);
  const floor = frechetFromStats(featureStats(few, features), all);
  few.dispose();
  return { real: all, floor };
}
