/**
 * Sample accuracy of a class-conditional TarFlow, judged by a classifier (by
 * default the shipped MNIST model and classifier; `--model` / `--classifier`
 * take others, e.g. the zoo's Fashion-MNIST pair): for each sampling
 * temperature, guidance scale and with/without the denoising step, the
 * fraction of samples the classifier reads as the requested class. --grid
 * writes the samples of the first setting as a PNG (one column per class).
 * Results are in docs/training.md.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { loadModel, type GuidanceSettings } from '@tarflow/model';
import { loadClassifier } from '@tarflow/classifier';
import { selectBackend } from '@tarflow/backends';
import { sampleAccuracy, sampleAccuracyGrid } from '@tarflow/train';
import { studyArgs } from './args.js';
import { SHIPPED_CLASSIFIER, SHIPPED_MODEL } from './mnist-fd.js';

const args = studyArgs({
  usage: 'node --import tsx studies/evaluate-default.ts [--model FILE] [options]',
  description: 'Prints the sample accuracy of a class-conditional TarFlow (default: the shipped MNIST model) for each setting.',
  options: {
    model: { type: 'string', default: SHIPPED_MODEL, help: 'TarFlow safetensors' },
    classifier: { type: 'string', default: SHIPPED_CLASSIFIER, help: 'classifier safetensors (packages/zoo/assets/fashion-classifier.safetensors for Fashion-MNIST)' },
    'per-class': { type: 'string', default: '10', help: 'samples per class' },
    scales: { type: 'string', default: '0,1,2,3', help: 'guidance scales, comma-separated (0: none)' },
    temps: { type: 'string', default: '1', help: 'sampling temperatures, comma-separated' },
    denoise: { type: 'string', default: 'both', help: 'denoising step: on, off or both' },
    on: { type: 'string', default: 'both', help: 'guide alpha, gamma or both' },
    annealed: { type: 'boolean', help: 'anneal the guidance scale' },
    'attn-temp': { type: 'string', default: '1', help: 'attention temperature of the unconditional branch' },
    grid: { type: 'string', help: 'write the first setting\'s samples to this PNG' },
    judge: { type: 'string', help: 'a second classifier that also reads the same samples (e.g. one trained on other data with train-classifier.ts --idx)' },
    seed: { type: 'string', default: '0', help: 'seed' },
  },
});
const a = args.values;
const denoise = ({ both: [false, true], on: [true], off: [false] } as Record<string, boolean[]>)[a.denoise];
if (!denoise) args.fail(`--denoise: expected on, off or both, got '${a.denoise}'`);
if (!['alpha', 'gamma', 'both'].includes(a.on)) args.fail(`--on: expected alpha, gamma or both, got '${a.on}'`);
const perClass = args.number('per-class', true);
const seed = args.number('seed', true);
await selectBackend('wasm');
const model = loadModel(new Uint8Array(await readFile(a.model)));
const classifier = loadClassifier(new Uint8Array(await readFile(a.classifier)));
const judge = a.judge !== undefined ? loadClassifier(new Uint8Array(await readFile(a.judge))) : undefined;
/** Accuracy and per-class accuracy of `predicted` against the requested labels, as printed. */
const readout = (labels: Int32Array, predicted: ArrayLike<number>) => {
  const K = model.config.num_classes;
  const hits = new Array<number>(K).fill(0);
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits[labels[i]]++;
  const total = hits.reduce((x, y) => x + y, 0);
  const line = `${(100 * total / labels.length).toFixed(1)}% (per class ${hits.map((h) => Math.round((100 * h * K) / labels.length)).join(' ')})`;
  // What the classes read below 85% of the time are read as instead (counts per predicted class).
  const weak = hits.map((h, k) => ({ k, share: (h * K) / labels.length })).filter((c) => c.share < 0.85);
  const reads = weak.map(({ k }) => {
    const counts = new Array<number>(K).fill(0);
    for (let i = 0; i < labels.length; i++) if (labels[i] === k) counts[predicted[i]]++;
    return `${k} read as [${counts.join(' ')}]`;
  });
  return reads.length ? `${line}; ${reads.join('; ')}` : line;
};
console.log(`model ${a.model} (${JSON.stringify(model.config)}), classifier ${a.classifier}, ${perClass} samples per class, seed ${seed}`);
let first = true;
for (const temperature of args.numbers('temps')) {
  for (const scale of args.numbers('scales')) {
    for (const d of denoise) {
      const guidance: GuidanceSettings | undefined =
        scale > 0 ? { scale, on: a.on as GuidanceSettings['on'], annealed: a.annealed, attnTemp: args.number('attn-temp') } : undefined;
      const r = sampleAccuracy(model, classifier, { perClass, guidance, denoise: d, seed, temperature });
      console.log(
        `temperature ${temperature} guidance ${scale} denoise ${d ? 'on ' : 'off'}: accuracy ${readout(r.labels, r.predicted)} in ${(r.sampleMs / 1000).toFixed(1)} s`,
      );
      if (judge) console.log(`  judge ${a.judge}: ${readout(r.labels, judge.predict(r.images))}`);
      if (first && a.grid) {
        await writeFileAtomic(a.grid, sampleAccuracyGrid(r, model.config.num_classes));
        console.log(`wrote ${a.grid}`);
      }
      first = false;
    }
  }
}
model.dispose();
classifier.dispose();
judge?.dispose();
