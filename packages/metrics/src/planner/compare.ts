/**
 * Quality parity, as the planner judges it: the mean |Δ| of a batch against
 * the exact samples of the same noise, and its prediction error for a batch of
 * B samples the planner never saw, σ·√(1/n + 1/B) (σ the spread of the n
 * calibration samples' own mean |Δ|). A plan passes when
 *
 *   mean + confidence · σ·√(1/n + 1/B) ≤ target   and   max ≤ targetMax.
 *
 * The calibration samples are solved in batches of B (calibration.ts): a plan
 * stops each solve on its residual, the largest over the batch, so a smaller
 * batch stops sooner, and B is the smallest batch a plan is kept for. The bound
 * shrinks as B grows and larger batches iterate at least as long, so a plan
 * accepted for B passes for every batch ≥ B: that is the batch range a plan is
 * stored with.
 */
import { tf, type ImageBatch } from '@tarflow/tensor';

/** Mean |Δ| of a batch against the exact samples, its prediction error, and the largest pixel |Δ|. */
export interface Quality {
  mean: number;
  se: number;
  max: number;
}

/** Each sample's mean |Δ| against the exact `reference`, its largest pixel |Δ|, and the largest over all. */
export interface Differences {
  perSample: number[];
  perSampleMax: number[];
  max: number;
}

export function differences(images: ImageBatch, reference: ImageBatch): Differences {
  const [perSample, perSampleMax] = tf.tidy(() => {
    const d = tf.abs(tf.sub(images, reference));
    return [tf.mean(d, [1, 2, 3]), tf.max(d, [1, 2, 3])];
  });
  const out: Differences = { perSample: Array.from(perSample.dataSync() as Float32Array), perSampleMax: Array.from(perSampleMax.dataSync() as Float32Array), max: 0 };
  out.max = Math.max(0, ...out.perSampleMax);
  tf.dispose([perSample, perSampleMax]);
  return out;
}

/** Quality of samples with these differences, with the prediction error for a batch of `batch` samples. */
export function quality(d: Differences, batch: number): Quality {
  const n = d.perSample.length;
  const mean = d.perSample.reduce((a, v) => a + v, 0) / n;
  const sigma = n > 1 ? Math.sqrt(d.perSample.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : Infinity;
  return { mean, se: sigma * Math.sqrt(1 / n + 1 / batch), max: d.max };
}

/** The differences of several batches as one. */
export function joinDifferences(parts: Differences[]): Differences {
  return { perSample: parts.flatMap((p) => p.perSample), perSampleMax: parts.flatMap((p) => p.perSampleMax), max: Math.max(...parts.map((p) => p.max)) };
}

/** The acceptance test: mean + confidence · se ≤ target, and max ≤ targetMax. */
export function passes(q: Quality, target: { mean: number; max: number; confidence: number }): boolean {
  return q.mean + target.confidence * q.se <= target.mean && q.max <= target.max;
}
