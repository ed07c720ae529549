/**
 * Quality of sampled images saved elsewhere (e.g. planner-images.safetensors
 * from the GPU benchmark, scripts/gpu-bench.sh): for every tensor
 * `<model>.<strategy>` [N, 1, 28, 28] with labels `<model>.labels` [N], the
 * Fréchet distance of the shipped classifier's features to those of the 10,000
 * held-out MNIST digits, the classifier's accuracy on the labels, and the mean
 * |Δ| against the file's `<model>.sequential` images.
 *
 *   node packages/metrics/scripts/images-fd.mjs FILE [--classifier PATH] [--json]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { parseSafetensors } from '@tarflow/checkpoint';
import { featureStats, frechetFromStats } from '../dist/index.js';
import { classifierWithRealStats } from './mnist-fd.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { classifier: { type: 'string', default: 'packages/zoo/assets/mnist-classifier.safetensors' }, json: { type: 'boolean', default: false } },
});
if (positionals.length !== 1) {
  console.error('usage: images-fd.mjs FILE [--classifier PATH] [--json]');
  process.exit(2);
}
await tf.setBackend('wasm');
await tf.ready();
const file = parseSafetensors(new Uint8Array(readFileSync(positionals[0])));
const { clf, realStats } = classifierWithRealStats(values.classifier);
const floats = (t) => new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
const rows = [];
for (const [name, t] of file.tensors) {
  const dot = name.indexOf('.');
  const model = name.slice(0, dot);
  const strategy = name.slice(dot + 1);
  if (strategy === 'labels') continue;
  if (t.dtype !== 'F32' || t.shape.length !== 4) throw new Error(`${name}: expected F32 images [N, C, H, W], got ${t.dtype} [${t.shape}]`);
  const labelsT = file.tensors.get(`${model}.labels`);
  const labels = labelsT ? new Int32Array(labelsT.data.buffer.slice(labelsT.data.byteOffset, labelsT.data.byteOffset + labelsT.data.byteLength)) : null;
  const images = floats(t);
  const x = tf.tensor4d(images, t.shape);
  const fd = frechetFromStats(featureStats(x, (b) => clf.features(b)), realStats);
  x.dispose();
  const seqT = file.tensors.get(`${model}.sequential`);
  let meanAbsDiff = null;
  if (seqT) {
    const seq = floats(seqT);
    let s = 0;
    for (let i = 0; i < seq.length; i++) s += Math.abs(seq[i] - images[i]);
    meanAbsDiff = s / seq.length;
  }
  rows.push({ model, strategy, count: t.shape[0], fd, accuracy: labels ? clf.accuracy(images, labels) : null, meanAbsDiff });
}
if (values.json) console.log(JSON.stringify({ metadata: file.metadata, rows }, null, 2));
else {
  console.log(`${positionals[0]}${file.metadata ? ` (${JSON.stringify(file.metadata)})` : ''}`);
  console.log('| model | strategy | samples | FD | classifier accuracy | mean |Δ| vs sequential |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.strategy} | ${r.count} | ${r.fd.toFixed(2)} | ${r.accuracy === null ? '–' : `${(r.accuracy * 100).toFixed(1)}%`} | ${r.meanAbsDiff === null ? '–' : r.meanAbsDiff.toExponential(2)} |`);
  }
}
