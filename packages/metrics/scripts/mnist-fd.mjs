/**
 * Shared by the study scripts: the shipped classifier and the feature
 * statistics of the 10,000 held-out MNIST digits, for the Fréchet distance.
 */
import { readFileSync } from 'node:fs';
import { tf } from '@tarflow/tensor';
import { loadMnist } from '@tarflow/data';
import { featureStats, loadClassifier } from '../dist/index.js';

/** { clf, realStats } for a classifier checkpoint path, or nulls without one. */
export function classifierWithRealStats(path) {
  if (!path) return { clf: null, realStats: null };
  const clf = loadClassifier(new Uint8Array(readFileSync(path)));
  const test = loadMnist({ split: 'test' });
  const real = tf.tensor4d(test.images, [test.count, 1, 28, 28]);
  const realStats = featureStats(real, (x) => clf.features(x));
  real.dispose();
  return { clf, realStats };
}
