#!/usr/bin/env node
/**
 * Joint-solve study: the quality of the joint Jacobi solve of all blocks at
 * every depth (one joint iteration = one dependent step), from one solve per
 * initial guess. Prints mean/max |Δ| of the images against the sequential
 * sampler's after each joint iteration, and the Fréchet distance (classifier
 * features against held-out MNIST) and accuracy at the depths `--fd` names.
 * Results are in docs/planner.md.
 *
 *   node packages/metrics/scripts/pipeline-study.mjs --checkpoint model.safetensors \
 *     [--classifier clf.safetensors] [--count 100] [--iterations 30] [--guidance 3] [--temperature 0.5] \
 *     [--guess zeros,noise,table] [--per-class 8] [--fd 19,20,22] [--seed 7]
 *
 * Needs `pnpm build` first.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { loadModel } from '@tarflow/model';
import { classMeanGuess, sampleQuality } from '../dist/index.js';
import { classifierWithRealStats } from './mnist-fd.mjs';

const { values: args } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    classifier: { type: 'string' },
    count: { type: 'string', default: '100' },
    iterations: { type: 'string', default: '30' },
    guidance: { type: 'string', default: '3' },
    temperature: { type: 'string', default: '0.5' },
    guess: { type: 'string', default: 'zeros,table' },
    'per-class': { type: 'string', default: '8' },
    fd: { type: 'string', default: '' },
    seed: { type: 'string', default: '7' },
  },
});
const guesses = args.guess.split(',');
if (!args.checkpoint || guesses.some((g) => !['zeros', 'noise', 'table'].includes(g))) {
  console.error('pipeline-study: --checkpoint is required; --guess lists zeros, noise and/or table');
  process.exit(2);
}
await tf.setBackend('wasm');
const model = loadModel(new Uint8Array(readFileSync(args.checkpoint)));
const N = Number(args.count);
const K = model.config.num_classes;
const temperature = Number(args.temperature);
const guidance = Number(args.guidance) > 0 ? { scale: Number(args.guidance) } : undefined;
const labels = K > 0 ? tf.tensor1d(Array.from({ length: N }, (_, i) => i % K), 'int32') : undefined;
const noise = tf.randomNormal([N, model.tokens, model.patchDim], 0, 1, 'float32', Number(args.seed));
const fdAt = new Set(args.fd ? args.fd.split(',').map(Number) : []);

const { clf, realStats } = classifierWithRealStats(args.classifier);
const quality = (images, reference, withFd) =>
  sampleQuality({
    samples: images,
    reference,
    labels,
    ...(withFd && clf ? { features: (x) => clf.features(x), realStats, classify: (x) => clf.classify(x) } : {}),
  });

const seq = model.sample(noise, { labels, guidance, temperature });
const seqQ = clf ? quality(seq.images, seq.images, true) : null;
console.log(`sequential: depth ${seq.report.depth}${seqQ ? `, FD ${seqQ.fd.toFixed(3)}, accuracy ${seqQ.accuracy.toFixed(3)}` : ''}`);
const table = guesses.includes('table') ? classMeanGuess(model, { perClass: Number(args['per-class']), guidance, temperature, seed: 99 }) : undefined;
for (const guess of guesses) {
  console.log(`\n${guess} guess\n\n| joint iterations (depth) | vs sequential | mean \\|Δ\\| | max \\|Δ\\| | FD | accuracy |\n|---|---|---|---|---|---|`);
  const strategy = { kind: 'joint', maxIterations: Number(args.iterations), guess, ...(guess === 'table' ? { table } : {}) };
  const r = model.sample(noise, {
    labels,
    guidance,
    temperature,
    strategy,
    onJointIteration: (n, _res, images) => {
      const q = quality(images(), seq.images, fdAt.has(n));
      const fd = q.fd === undefined ? '—' : `${q.fd.toFixed(3)} (${(((q.fd - seqQ.fd) / seqQ.fd) * 100).toFixed(2)}%)`;
      const acc = q.accuracy === undefined ? '—' : q.accuracy.toFixed(3);
      console.log(`| ${n} | ${(seq.report.depth / n).toFixed(1)}× | ${q.meanAbsDiff.toExponential(2)} | ${q.maxAbsDiff.toFixed(3)} | ${fd} | ${acc} |`);
    },
  });
  r.images.dispose();
}
