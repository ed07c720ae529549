#!/usr/bin/env node
/**
 * Pipeline study: how much depth would a joint Jacobi iteration over the whole
 * stack save? Instead of solving block after block, every block iterates at
 * once, each on the current iterate of the block before it, so the blocks of
 * one joint iteration are independent of each other (one dependent step if
 * they are evaluated together). Also tries a calibrated initial guess for the
 * first-sampled block: the per-class mean of its exact output over a separate
 * calibration batch. Prints mean/max |Δ| of the images against the sequential
 * sampler's after each joint iteration. Results are in docs/planner.md.
 *
 *   node packages/metrics/scripts/pipeline-study.mjs --checkpoint model.safetensors \
 *     [--count 32] [--iterations 30] [--guidance 3] [--temperature 0.7] [--guess zeros|mean] [--calibration 40]
 *
 * Needs `pnpm build` first.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { loadModel } from '@tarflow/model';
import { solveBlock } from '@tarflow/solvers';

const { values: args } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    count: { type: 'string', default: '32' },
    iterations: { type: 'string', default: '30' },
    guidance: { type: 'string', default: '3' },
    temperature: { type: 'string', default: '0.7' },
    guess: { type: 'string', default: 'zeros' },
    calibration: { type: 'string', default: '40' },
  },
});
if (!args.checkpoint || !['zeros', 'mean'].includes(args.guess)) {
  console.error('pipeline-study: --checkpoint is required; --guess is zeros or mean');
  process.exit(2);
}
await tf.setBackend('wasm');
const model = loadModel(new Uint8Array(readFileSync(args.checkpoint)));
const N = Number(args.count), K = Number(args.iterations), calN = Number(args.calibration);
const T = model.tokens, L = model.blocks.length, D = model.patchDim, C = model.config.num_classes;
const temperature = Number(args.temperature);
const guidance = Number(args.guidance) > 0 ? { scale: Number(args.guidance) } : undefined;
const labelsOf = (n) => (C > 0 ? tf.tensor1d(Array.from({ length: n }, (_, i) => i % C), 'int32') : undefined);
const scaled = (n, seed) => tf.mul(tf.mul(tf.randomNormal([n, T, D], 0, 1, 'float32', seed), tf.sqrt(model.priorVar)), temperature);
/** Block k in sampling order, in its own (permuted) coordinates. */
const perm = (k, x) => model.permuteForBlock(L - 1 - k, x);
const first = (z) => tf.slice(z, [0, 0, 0], [-1, 1, -1]);
const rest = (x) => tf.slice(x, [0, 1, 0], [-1, T - 1, -1]);

const labels = labelsOf(N);
const noise = tf.randomNormal([N, T, D], 0, 1, 'float32', 11);
const reference = model.sample(noise, { labels, guidance, temperature }).images;
const maps = Array.from({ length: L }, (_, k) => model.samplingMap(L - 1 - k, labels, guidance));
/** One Jacobi application of block k to iterate x with input z. */
const F = (k, x, z) => tf.tidy(() => {
  const r = maps[k].evaluate(tf.slice(x, [0, 0, 0], [-1, T - 1, -1]), 0, maps[k].emptyCache(N));
  return tf.concat([first(z), tf.add(tf.mul(tf.exp(r.params.logScale), rest(z)), r.params.shift)], 1);
});

// Initial guess of the first-sampled block.
let guess0 = tf.zeros([N, T, D]);
if (args.guess === 'mean') {
  const calLabels = labelsOf(calN);
  const calZ = perm(0, scaled(calN, 99));
  const calX = solveBlock(model.samplingMap(L - 1, calLabels, guidance), calZ, { kind: 'sequential' }).x;
  guess0 = tf.tidy(() => {
    if (C === 0) return tf.tile(tf.mean(calX, 0, true), [N, 1, 1]);
    const oneHot = tf.oneHot(calLabels, C).toFloat();
    const sums = tf.matMul(tf.transpose(oneHot), tf.reshape(calX, [calN, -1]));
    const means = tf.div(sums, tf.expandDims(tf.sum(oneHot, 0), 1)).reshape([C, T, D]);
    return tf.gather(means, labels);
  });
}
const z0 = perm(0, scaled(N, 11));
let xs = [tf.concat([first(z0), rest(guess0)], 1)];
for (let k = 1; k < L; k++) xs.push(perm(k, perm(k - 1, xs[k - 1])));
console.log(`| joint iterations (depth) | vs sequential | mean \\|Δ\\| | max \\|Δ\\| |`);
console.log('|---|---|---|---|');
for (let n = 1; n <= K; n++) {
  const zs = [z0, ...xs.slice(0, L - 1).map((x, k) => perm(k + 1, perm(k, x)))];
  const next = xs.map((x, k) => F(k, x, zs[k]));
  zs.slice(1).forEach((z) => z.dispose());
  xs.forEach((x) => x.dispose());
  xs = next;
  const [mean, max] = tf.tidy(() => {
    const d = tf.abs(tf.sub(model.unpatchify(perm(L - 1, xs[L - 1])), reference));
    return [tf.mean(d).dataSync()[0], tf.max(d).dataSync()[0]];
  });
  console.log(`| ${n} | ${((L * (T - 1)) / n).toFixed(1)}× | ${mean.toExponential(2)} | ${max.toFixed(3)} |`);
}
