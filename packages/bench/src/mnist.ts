/**
 * MNIST references for MNIST-shaped models (1 × 28 × 28): test digits to
 * calibrate the CRM on, and the classifier's features of real digits for
 * the Fréchet distance (the classifier from @tarflow/zoo).
 */
import { tf, type ImageBatch } from '@tarflow/tensor';
import type { TarFlow } from '@tarflow/model';
import { loadClassifier } from '@tarflow/classifier';
import { frechetReference, type FeatureFn, type FeatureStats } from '@tarflow/metrics';
import { loadDataset } from '@tarflow/data';
import { classifierBytes } from '@tarflow/zoo';

/** Whether the model draws MNIST-shaped images. */
export function isMnistShaped(model: TarFlow): boolean {
  return model.config.in_channels === 1 && model.config.img_size === 28;
}

/** Up to `limit` MNIST test digits as an image batch. */
export function mnistTestDigits(limit?: number): ImageBatch {
  const ds = loadDataset('mnist', { split: 'test', limit });
  return tf.tensor4d(ds.images, [ds.count, 1, 28, 28]);
}

/** What the FD column compares samples with. */
export interface FrechetSetup {
  features: FeatureFn;
  real: FeatureStats;
  /** FD of `count` real digits against all of them. */
  floor: number;
  /** What `real` was computed on. */
  reference: string;
  dispose(): void;
}

/** The classifier's features and the statistics of all MNIST test digits, with the FD floor at `count` samples. */
export async function mnistFrechet(count: number): Promise<FrechetSetup> {
  const classifier = loadClassifier(await classifierBytes());
  const features: FeatureFn = (x) => classifier.features(x);
  const all = mnistTestDigits();
  const { real, floor } = frechetReference(all, features, count);
  const reference = `${all.shape[0]} MNIST test digits`;
  all.dispose();
  return { features, real, floor, reference, dispose: () => classifier.dispose() };
}
