/**
 * Sample accuracy of a class-conditional TarFlow, judged by a classifier (by
 * default the shipped MNIST model and classifier; `--model` / `--classifier`
 * take others, e.g. the zoo's Fashion-MNIST pair): for each sampling
 * temperature, guidance scale and with/without the denoising step, the
 * fraction of samples the classifier reads as the requested class. --grid
 * writes the samples of the first setting as a PNG (one column per class).
 * --pieces also prints, per class, the share of samples drawn in one piece
 * (a shape check the classifiers do not make: a five drawn as "=" is read as
 * a five but falls apart in two), beside the same share on the first
 * training images of each class. --fd prints the Fréchet distance of the
 * classifier's features of each setting's samples to those of --dataset's
 * held-out images (the diversity a low temperature costs shows here; compare
 * settings at the same sample count only). --held-out prints what the classifier reads
 * on real held-out images per class, the figure to read sample accuracy
 * against. Results are in docs/training.md.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { loadModel, type GuidanceSettings } from '@tarflow/model';
import { loadClassifier } from '@tarflow/classifier';
import { loadDataset, subset } from '@tarflow/data';
import { selectBackend } from '@tarflow/backends';
import { sampleAccuracy, sampleAccuracyGrid } from '@tarflow/train';
import { sampleQuality } from '@tarflow/metrics';
import { tf } from '@tarflow/tensor';
import { studyArgs } from './args.js';
import { realStatsOf, SHIPPED_CLASSIFIER, SHIPPED_MODEL } from './mnist-fd.js';

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
    pieces: { type: 'boolean', help: "also print each class's share of samples drawn in one piece, and the training set's" },
    dataset: { type: 'string', default: 'mnist', help: "the dataset --pieces, --fd and --held-out read: 'mnist' or 'fashion-mnist'" },
    fd: { type: 'boolean', help: "also print the Fréchet distance of the classifier's features of the samples to those of --dataset's held-out images" },
    'held-out': { type: 'boolean', help: "also print the classifier's accuracy per class on --dataset's held-out (test) images: what real images score" },
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
/** Per class, the share of items i with `hit(i)` among those labelled with that class (0 for a class with none). */
const perClassShares = (labels: ArrayLike<number>, K: number, hit: (i: number) => boolean) => {
  const hits = new Array<number>(K).fill(0), totals = new Array<number>(K).fill(0);
  for (let i = 0; i < labels.length; i++) {
    totals[labels[i]]++;
    if (hit(i)) hits[labels[i]]++;
  }
  return { hits, shares: hits.map((h, k) => h / Math.max(1, totals[k])) };
};
/** Accuracy and per-class accuracy of `predicted` against the requested labels, as printed. */
const readout = (labels: Int32Array, predicted: ArrayLike<number>) => {
  const K = model.config.num_classes;
  const { hits, shares } = perClassShares(labels, K, (i) => predicted[i] === labels[i]);
  const total = hits.reduce((x, y) => x + y, 0);
  const line = `${(100 * total / labels.length).toFixed(1)}% (per class ${shares.map((x) => Math.round(100 * x)).join(' ')})`;
  // What the classes read below 85% of the time are read as instead (counts per predicted class).
  const weak = shares.map((_, k) => k).filter((k) => shares[k] < 0.85);
  const reads = weak.map((k) => {
    const counts = new Array<number>(K).fill(0);
    for (let i = 0; i < labels.length; i++) if (labels[i] === k) counts[predicted[i]]++;
    return `${k} read as [${counts.join(' ')}]`;
  });
  return reads.length ? `${line}; ${reads.join('; ')}` : line;
};
/**
 * Pieces of one image [S, S] in [-1, 1]: 8-connected groups of pixels
 * brighter than the middle grey (0.3 on a 0..1 scale, where faint strokes
 * still count), groups under 3 pixels (specks) not counted.
 */
const PIECE_LEVEL = 2 * 0.3 - 1;
const MIN_PIECE = 3;
function pieces(image: Float32Array, S: number): number {
  const seen = new Uint8Array(S * S);
  let count = 0;
  for (let start = 0; start < S * S; start++) {
    if (seen[start] || image[start] <= PIECE_LEVEL) continue;
    seen[start] = 1;
    const stack = [start];
    let size = 0;
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const r = Math.floor(p / S), c = p % S;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr, cc = c + dc, q = rr * S + cc;
          if (rr < 0 || rr >= S || cc < 0 || cc >= S || seen[q] || image[q] <= PIECE_LEVEL) continue;
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (size >= MIN_PIECE) count++;
  }
  return count;
}
/** Per class, the percentage of images (single-channel [N, S, S] in [-1, 1]) drawn in one piece. */
const onePiece = (images: Float32Array, labels: ArrayLike<number>, K: number, S: number) => {
  const { shares } = perClassShares(labels, K, (i) => pieces(images.subarray(i * S * S, (i + 1) * S * S), S) === 1);
  return `in one piece: ${shares.map((x) => Math.round(100 * x)).join(' ')}`;
};
if (a.dataset !== 'mnist' && a.dataset !== 'fashion-mnist') args.fail(`--dataset: expected mnist or fashion-mnist, got '${a.dataset}'`);
if (a['held-out']) {
  const test = loadDataset(a.dataset, { split: 'test' });
  const predicted = classifier.predict(test.images.subarray(0, test.count * test.height * test.width));
  console.log(`classifier on ${test.name} (${test.count} held-out images): ${readout(test.labels, predicted)}`);
}
if (a.pieces && model.config.in_channels !== 1) args.fail('--pieces: needs a single-channel model');
if (a.pieces) {
  // The same check on the training set: the first --per-class images of each class.
  const ds = loadDataset(a.dataset);
  const taken = new Array<number>(ds.numClasses).fill(0), picked: number[] = [];
  for (let i = 0; i < ds.count && picked.length < ds.numClasses * perClass; i++) if (taken[ds.labels[i]] < perClass) (taken[ds.labels[i]]++, picked.push(i));
  const first = subset(ds, picked);
  console.log(`training set (${ds.name}, first ${perClass} of each class) ${onePiece(first.images, first.labels, ds.numClasses, ds.height)}`);
}
const realStats = a.fd ? realStatsOf(classifier, a.dataset as 'mnist' | 'fashion-mnist') : undefined;
/** FD of the classifier's features of `images` ([N, C, S, S] flat) to the held-out images'. */
const fd = (images: Float32Array) => {
  const { in_channels: C, img_size: S } = model.config;
  const samples = tf.tensor4d(images, [images.length / (C * S * S), C, S, S]);
  try {
    return sampleQuality({ samples, features: (b) => classifier.features(b), realStats }).fd!;
  } finally {
    samples.dispose();
  }
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
      if (a.pieces) console.log(`  ${onePiece(r.images, r.labels, model.config.num_classes, model.config.img_size)}`);
      if (realStats) console.log(`  FD to held-out ${a.dataset}: ${fd(r.images).toFixed(1)} (${r.labels.length} samples)`);
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
