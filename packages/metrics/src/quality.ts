/**
 * Sample-quality measures for comparing a sampler against the exact
 * sequential one: pixel differences from the same noise and labels, the
 * forward residual (push the sample back through the flow and compare with the
 * noise), and the Fréchet distance of classifier features to real images.
 */
import { tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { scaleNoise, type TarFlow } from '@tarflow/model';
import { frechetDistance, meanCov } from './linalg.js';

/** Feature statistics of a set of images (for the Fréchet distance). */
export interface FeatureStats {
  count: number;
  dim: number;
  mean: Float64Array;
  cov: Float64Array;
}

/** Maps images [B, C, H, W] to features [B, F] (e.g. a classifier's penultimate layer). */
export type FeatureFn = (images: ImageBatch) => tf.Tensor2D;

/** Feature statistics of images, computed in batches so memory stays flat. */
export function featureStats(images: ImageBatch, features: FeatureFn, batch = 256): FeatureStats {
  const n = images.shape[0];
  const chunks: Float32Array[] = [];
  let dim = 0;
  for (let i = 0; i < n; i += batch) {
    const f = tf.tidy(() => features(tf.slice(images, i, Math.min(batch, n - i)) as ImageBatch));
    dim = f.shape[1];
    chunks.push(f.dataSync() as Float32Array);
    f.dispose();
  }
  const all = new Float32Array(n * dim);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const { mean, cov } = meanCov(all, n, dim);
  return { count: n, dim, mean, cov };
}

/** Fréchet distance between two feature statistics. */
export function frechetFromStats(a: FeatureStats, b: FeatureStats): number {
  if (a.dim !== b.dim) throw new Error(`Fréchet distance: feature sizes differ (${a.dim} vs ${b.dim})`);
  return frechetDistance(a.mean, a.cov, b.mean, b.cov, a.dim);
}

export interface QualityInput {
  /** The samples to judge, [B, C, H, W]. */
  samples: ImageBatch;
  /** Exact sequential samples from the same noise and labels. */
  reference?: ImageBatch;
  /** With `noise`: the forward residual ‖forward(samples) − √var·noise‖. */
  model?: TarFlow;
  noise?: PatchSeq;
  /** The sampling temperature the samples were drawn at (default 1): the residual is against √var·temperature·noise. */
  temperature?: number;
  labels?: tf.Tensor1D;
  /** With `realStats`: the Fréchet distance of these features. */
  features?: FeatureFn;
  realStats?: FeatureStats;
  /** With `labels`: accuracy of the classifier's predictions. */
  classify?: (images: ImageBatch) => tf.Tensor2D;
}

export interface Quality {
  meanAbsDiff?: number;
  maxAbsDiff?: number;
  /** Mean and max |forward(sample) − √var·noise| over all latent entries. */
  forwardResidual?: { mean: number; max: number };
  fd?: number;
  accuracy?: number;
}

/** Measures what the inputs allow (see QualityInput). Leaves no tensor behind. */
export function sampleQuality(input: QualityInput): Quality {
  const q: Quality = {};
  const { samples } = input;
  if (input.reference) {
    if (input.reference.shape.join() !== samples.shape.join()) {
      throw new Error(`sampleQuality: reference shape [${input.reference.shape}] differs from samples [${samples.shape}]`);
    }
    const [mean, max] = tf.tidy(() => {
      const d = tf.abs(tf.sub(samples, input.reference!));
      return [tf.mean(d).dataSync()[0], tf.max(d).dataSync()[0]];
    });
    q.meanAbsDiff = mean;
    q.maxAbsDiff = max;
  }
  if (input.model && input.noise) {
    const model = input.model;
    const r = model.forward(samples, input.labels?.shape[0] === samples.shape[0] ? input.labels : undefined);
    const [mean, max] = tf.tidy(() => {
      const d = tf.abs(tf.sub(r.z, scaleNoise(model, input.noise!, input.temperature ?? 1)));
      return [tf.mean(d).dataSync()[0], tf.max(d).dataSync()[0]];
    });
    tf.dispose([r.z, r.outputs, r.logdets]);
    q.forwardResidual = { mean, max };
  }
  if (input.features && input.realStats) {
    q.fd = frechetFromStats(featureStats(samples, input.features), input.realStats);
  }
  if (input.classify && input.labels) {
    q.accuracy = tf.tidy(() => {
      const pred = tf.argMax(input.classify!(samples), 1);
      return tf.mean(tf.cast(tf.equal(pred, input.labels!), 'float32')).dataSync()[0];
    });
  }
  return q;
}
