/**
 * Shared by the studies: a classifier checkpoint and the feature statistics of
 * the held-out MNIST digits (`loadMnist({ split: 'test' })`), for the Fréchet
 * distance of samples' classifier features (`sampleQuality`'s `features` /
 * `realStats`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '@tarflow/tensor';
import { loadMnist } from '@tarflow/data';
import { loadClassifier, type MnistClassifier } from '@tarflow/classifier';
import { featureStats, type FeatureStats } from '@tarflow/metrics';

/** The classifier shipped in @tarflow/zoo. */
export const SHIPPED_CLASSIFIER = fileURLToPath(new URL('../packages/zoo/assets/mnist-classifier.safetensors', import.meta.url));
/** The default model shipped in @tarflow/zoo. */
export const SHIPPED_MODEL = fileURLToPath(new URL('../packages/zoo/assets/mnist-cond.safetensors', import.meta.url));

/** The classifier at `path` and the real digits' feature statistics. */
export function classifierWithRealStats(path: string): { clf: MnistClassifier; realStats: FeatureStats } {
  const clf = loadClassifier(new Uint8Array(readFileSync(path)));
  const test = loadMnist({ split: 'test' });
  const real = tf.tensor4d(test.images, [test.count, 1, 28, 28]);
  const realStats = featureStats(real, (x) => clf.features(x));
  real.dispose();
  return { clf, realStats };
}
