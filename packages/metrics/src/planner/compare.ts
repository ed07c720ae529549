/**
 * Quality parity, as the planner judges it: the mean |Δ| of a batch against
 * the exact samples of the same noise, and its prediction error for a batch of
 * B samples the planner never saw, σ·√(1/n + 1/B) (σ the spread of the n
 * calibration samples' own mean |Δ|). A plan passes when
 *
 *   mean + confidence · σ·√(1/n + 1/B) ≤ target   and   max ≤ targetMax.
 *
 * The bound shrinks as B grows, so a plan accepted for B passes for every
 * batch ≥ B: that is the batch range a plan is stored with.
 */
import { tf, type ImageBatch } from '@tarflow/tensor';

/** Mean |Δ| of a batch against the exact samples, its prediction error, and the largest pixel |Δ|. */
export interface Quality {
  mean: number;
  se: number;
  max: number;
}

/** Quality of `images` against the exact `reference`, with the prediction error for a batch of `batch` samples. */
export function compare(images: ImageBatch, reference: ImageBatch, batch: number): Quality {
  return tf.tidy(() => {
    const d = tf.abs(tf.sub(images, reference));
    const perSample = tf.mean(d, [1, 2, 3]);
    const n = perSample.shape[0];
    const { mean, variance } = tf.moments(perSample);
    const sigma = n > 1 ? Math.sqrt((variance.dataSync()[0] * n) / (n - 1)) : Infinity;
    return { mean: mean.dataSync()[0], se: sigma * Math.sqrt(1 / n + 1 / batch), max: tf.max(d).dataSync()[0] };
  }) as unknown as Quality;
}

/** The acceptance test: mean + confidence · se ≤ target, and max ≤ targetMax. */
export function passes(q: Quality, target: { mean: number; max: number; confidence: number }): boolean {
  return q.mean + target.confidence * q.se <= target.mean && q.max <= target.max;
}
