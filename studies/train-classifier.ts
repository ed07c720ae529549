/**
 * Trains the MNIST classifier shipped in @tarflow/zoo and writes it
 * (atomically) with its held-out accuracy in the metadata. The run and its
 * log are in docs/training.md.
 */
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { saveClassifier } from '@tarflow/classifier';
import { selectBackend } from '@tarflow/backends';
import { trainClassifier } from '@tarflow/train';
import { studyArgs } from './args.js';
import { SHIPPED_CLASSIFIER } from './mnist-fd.js';

const args = studyArgs({
  usage: 'node --import tsx studies/train-classifier.ts [--out FILE]',
  description: 'Trains the MNIST classifier (8 epochs on the 9,000 MNIST train digits) and writes it as safetensors.',
  options: { out: { type: 'string', default: SHIPPED_CLASSIFIER, help: 'output file' } },
});
const out = args.values.out;
await selectBackend('wasm');
const options = { epochs: 8, batchSize: 128, lr: 2e-3, weightDecay: 1e-4, shift: 2, seed: 0 };
const t0 = performance.now();
const stamp = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s`;
console.log(`training the MNIST classifier: ${JSON.stringify(options)}`);
const { classifier, testAccuracy, history } = await trainClassifier({
  ...options,
  onProgress: (p) => console.log(`${stamp()} step ${p.step}/${p.totalSteps} epoch ${p.epoch} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(1)}`),
  onEpoch: (e) => console.log(`${stamp()} epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, held-out accuracy ${(100 * e.testAccuracy).toFixed(2)}%`),
});
const bytes = saveClassifier(classifier, {
  test_accuracy: testAccuracy.toFixed(4),
  test_split: 'mnist test (loadMnist split test: 1000 digits, stratified, seed 0)',
  training: JSON.stringify({ ...options, dataset: 'mnist train (9000 digits)', history }),
});
await writeFileAtomic(out, bytes);
console.log(`${stamp()} wrote ${out} (${bytes.length} bytes), held-out accuracy ${(100 * testAccuracy).toFixed(2)}%`);
classifier.dispose();
