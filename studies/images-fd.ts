/**
 * Quality of sampled images saved elsewhere (e.g. planner-images.safetensors
 * from the GPU benchmark, scripts/gpu-bench.sh): for every tensor
 * `<model>.<strategy>` [N, 1, 28, 28] with labels `<model>.labels` [N], the
 * Fréchet distance of the classifier's features to those of the held-out
 * MNIST digits, the classifier's accuracy on the labels, and the mean |Δ|
 * against the file's `<model>.sequential` images.
 */
import { readFileSync } from 'node:fs';
import { tf } from '@tarflow/tensor';
import { selectBackend } from '@tarflow/backends';
import { parseSafetensors, toFloat32, toInt32 } from '@tarflow/checkpoint';
import { featureStats, frechetFromStats } from '@tarflow/metrics';
import { studyArgs } from './args.js';
import { classifierWithRealStats, SHIPPED_CLASSIFIER } from './mnist-fd.js';

const args = studyArgs({
  usage: 'node --import tsx studies/images-fd.ts FILE [--classifier PATH] [--json]',
  description: 'FD, classifier accuracy and mean |Δ| against the sequential images of the sample images stored in a safetensors FILE; prints a markdown table.',
  positionals: 'FILE',
  options: {
    classifier: { type: 'string', default: SHIPPED_CLASSIFIER, help: 'MNIST classifier safetensors' },
    json: { type: 'boolean', help: 'print JSON instead of markdown' },
  },
});
if (args.positionals.length !== 1) args.fail('images-fd: expected one FILE');
const path = args.positionals[0];
await selectBackend('wasm');
const file = parseSafetensors(new Uint8Array(readFileSync(path)));
const { clf, realStats } = classifierWithRealStats(args.values.classifier);
const rows: { model: string; strategy: string; count: number; fd: number; accuracy: number | null; meanAbsDiff: number | null }[] = [];
for (const [name, t] of file.tensors) {
  const dot = name.indexOf('.');
  const model = name.slice(0, dot);
  const strategy = name.slice(dot + 1);
  if (strategy === 'labels') continue;
  if (t.dtype !== 'F32' || t.shape.length !== 4) throw new Error(`${name}: expected F32 images [N, C, H, W], got ${t.dtype} [${t.shape}]`);
  const labelsT = file.tensors.get(`${model}.labels`);
  const labels = labelsT ? toInt32(labelsT, `${model}.labels`) : null;
  const images = toFloat32(t, name);
  const x = tf.tensor4d(images, t.shape as [number, number, number, number]);
  const fd = frechetFromStats(featureStats(x, (b) => clf.features(b)), realStats);
  x.dispose();
  const seqT = file.tensors.get(`${model}.sequential`);
  let meanAbsDiff: number | null = null;
  if (seqT) {
    const seq = toFloat32(seqT, `${model}.sequential`);
    let s = 0;
    for (let i = 0; i < seq.length; i++) s += Math.abs(seq[i] - images[i]);
    meanAbsDiff = s / seq.length;
  }
  rows.push({ model, strategy, count: t.shape[0], fd, accuracy: labels ? clf.accuracy(images, labels) : null, meanAbsDiff });
}
if (args.values.json) console.log(JSON.stringify({ metadata: file.metadata, rows }, null, 2));
else {
  console.log(`${path}${file.metadata ? ` (${JSON.stringify(file.metadata)})` : ''}`);
  console.log('| model | strategy | samples | FD | classifier accuracy | mean |Δ| vs sequential |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.strategy} | ${r.count} | ${r.fd.toFixed(2)} | ${r.accuracy === null ? '–' : `${(r.accuracy * 100).toFixed(1)}%`} | ${r.meanAbsDiff === null ? '–' : r.meanAbsDiff.toExponential(2)} |`);
  }
}
