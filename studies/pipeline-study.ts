/**
 * Joint-solve study: the quality of the joint Jacobi solve of all blocks at
 * every depth (one joint iteration = one dependent step), from one solve per
 * initial guess. Prints mean/max |Δ| of the images against the sequential
 * sampler's after each joint iteration, and the Fréchet distance (classifier
 * features against held-out MNIST) and accuracy at the depths --fd names.
 * Results are in docs/planner.md.
 */
import { readFileSync } from 'node:fs';
import { tf, type ImageBatch } from '@tarflow/tensor';
import { selectBackend } from '@tarflow/backends';
import { loadModel, type GuidanceSettings } from '@tarflow/model';
import type { JointStrategy } from '@tarflow/solvers';
import { classMeanGuess, sampleQuality } from '@tarflow/metrics';
import { studyArgs } from './args.js';
import { classifierWithRealStats } from './mnist-fd.js';

const GUESSES = ['zeros', 'noise', 'table'] as const;
type Guess = (typeof GUESSES)[number];

const args = studyArgs({
  usage: 'node --import tsx studies/pipeline-study.ts --checkpoint FILE [options]',
  description: 'Quality of the joint solve after every joint iteration, per initial guess; prints markdown tables.',
  options: {
    checkpoint: { type: 'string', help: 'TarFlow safetensors to study (required)' },
    classifier: { type: 'string', help: 'MNIST classifier safetensors: FD and accuracy at the --fd depths' },
    count: { type: 'string', default: '100', help: 'samples' },
    iterations: { type: 'string', default: '30', help: 'joint iterations' },
    guidance: { type: 'string', default: '3', help: 'classifier-free guidance scale (0: none)' },
    temperature: { type: 'string', default: '0.5', help: 'sampling temperature' },
    guess: { type: 'string', default: 'zeros,table', help: 'initial guesses to compare: zeros, noise and/or table (class means)' },
    'per-class': { type: 'string', default: '8', help: 'samples per class of the class-mean table' },
    fd: { type: 'string', help: 'depths at which to measure FD and accuracy, comma-separated' },
    seed: { type: 'string', default: '7', help: 'noise seed' },
  },
});
const a = args.values;
const guesses = a.guess.split(',') as Guess[];
if (!a.checkpoint) args.fail('pipeline-study: --checkpoint is required');
if (guesses.some((g) => !GUESSES.includes(g))) args.fail('pipeline-study: --guess lists zeros, noise and/or table');
const N = args.number('count', true);
const temperature = args.number('temperature');
const scale = args.number('guidance');
await selectBackend('wasm');
const model = loadModel(new Uint8Array(readFileSync(a.checkpoint!)));
const K = model.config.num_classes;
const guidance: GuidanceSettings | undefined = scale > 0 ? { scale } : undefined;
const labels = K > 0 ? tf.tensor1d(Array.from({ length: N }, (_, i) => i % K), 'int32') : undefined;
const noise = tf.randomNormal([N, model.tokens, model.patchDim], 0, 1, 'float32', args.number('seed', true)) as tf.Tensor3D;
const fdAt = new Set(args.numbers('fd'));

const fd = a.classifier ? classifierWithRealStats(a.classifier) : null;
const quality = (images: ImageBatch, reference: ImageBatch, withFd: boolean) =>
  sampleQuality({
    samples: images,
    reference,
    labels,
    ...(withFd && fd ? { features: (x: ImageBatch) => fd.clf.features(x), realStats: fd.realStats, classify: (x: ImageBatch) => fd.clf.classify(x) } : {}),
  });

const seq = model.sample(noise, { labels, guidance, temperature });
const seqQ = fd ? quality(seq.images, seq.images, true) : null;
console.log(`sequential: depth ${seq.report.depth}${seqQ ? `, FD ${seqQ.fd!.toFixed(3)}, accuracy ${seqQ.accuracy!.toFixed(3)}` : ''}`);
const table = guesses.includes('table') ? classMeanGuess(model, { perClass: args.number('per-class', true), guidance, temperature, seed: 99 }) : undefined;
for (const guess of guesses) {
  console.log(`\n${guess} guess\n\n| joint iterations (depth) | vs sequential | mean \\|Δ\\| | max \\|Δ\\| | FD | accuracy |\n|---|---|---|---|---|---|`);
  const strategy: JointStrategy = { kind: 'joint', maxIterations: args.number('iterations', true), guess };
  const r = model.sample(noise, {
    labels,
    guidance,
    temperature,
    strategy,
    guessTable: guess === 'table' ? table : undefined,
    onJointIteration: (n, _residuals, images) => {
      const q = quality(images(), seq.images, fdAt.has(n));
      const fdText = q.fd === undefined || !seqQ ? '—' : `${q.fd.toFixed(3)} (${(((q.fd - seqQ.fd!) / seqQ.fd!) * 100).toFixed(2)}%)`;
      const acc = q.accuracy === undefined ? '—' : q.accuracy.toFixed(3);
      console.log(`| ${n} | ${(seq.report.depth / n).toFixed(1)}× | ${q.meanAbsDiff!.toExponential(2)} | ${q.maxAbsDiff!.toFixed(3)} | ${fdText} | ${acc} |`);
    },
  });
  r.images.dispose();
}
