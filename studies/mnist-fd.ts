/**
 * Shared by the studies: a classifier checkpoint and the feature statistics of
 * held-out images — the 1,000 MNIST test digits (`loadMnist({ split: 'test' })`)
 * or the first 1,000 Fashion-MNIST test images — for the Fréchet distance of
 * samples' classifier features (`sampleQuality`'s `features` / `realStats`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '@tarflow/tensor';
import { loadFashionMnist, loadMnist } from '@tarflow/data';
import { loadClassifier, type MnistClassifier } from '@tarflow/classifier';
import { featureStats, type FeatureStats } from '@tarflow/metrics';

/** The classifier shipped in @tarflow/zoo. */
export const SHIPPED_CLASSIFIER = fileURLToPath(new URL('../packages/zoo/assets/mnist-classifier.safetensors', import.meta.url));
/** The default model shipped in @tarflow/zoo. */
export const SHIPPED_MODEL = fileURLToPath(new URL('../packages/zoo/assets/mnist-cond.safetensors', import.meta.url));

/** The classifier at `path` and the held-out images' feature statistics. */
export function classifierWithRealStats(path: string, dataset: 'mnist' | 'fashion-mnist' = 'mnist'): { clf: MnistClassifier; realStats: FeatureStats } {
  const clf = loadClassifier(new Uint8Array(readFileSync(path)));
  return { clf, realStats: realStatsOf(clf, dataset) };
}

/** The feature statistics, by `clf`, of the held-out images of `dataset`. */
export function realStatsOf(clf: MnistClassifier, dataset: 'mnist' | 'fashion-mnist' = 'mnist'): FeatureStats {
  const test = dataset === 'mnist' ? loadMnist({ split: 'test' }) : loadFashionMnist({ split: 'test', limit: 1000 });
  const real = tf.tensor4d(test.images, [test.count, 1, 28, 28]);
  const realStats = featureStats(real, (x) => clf.features(x));
  real.dispose();
  return realStats;
}
