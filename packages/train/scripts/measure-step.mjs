#!/usr/bin/env node
// Measures the time of one TarFlow training step (forward, backward, AdamW) on
// MNIST-sized inputs, to size a run before starting it. Needs `pnpm --filter
// @tarflow/train build` first.
//
//   node packages/train/scripts/measure-step.mjs channels=128 layers=2 blocks=4 batch=64 steps=5 [backend=wasm]
import { tf } from '@tarflow/tensor';
import { TarFlow } from '@tarflow/model';
import { AdamW, initBackend, trainStep } from '../dist/index.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
await initBackend(args.backend ?? 'wasm');
const config = {
  in_channels: 1, img_size: 28, patch_size: num('patch', 4), channels: num('channels', 128), num_blocks: num('blocks', 4),
  layers_per_block: num('layers', 2), num_classes: 10, noise_std: 0.05, head_dim: num('head_dim', 64), expansion: num('expansion', 4), nvp: true,
};
const B = num('batch', 64);
const model = TarFlow.init(config, 0);
const params = model.trainableVariables();
const nParams = params.reduce((a, p) => a + p.size, 0);
const opt = new AdamW(params);
const images = new Float32Array(B * 784).map(() => Math.random() * 2 - 1);
const labels = new Int32Array(B).map((_, i) => i % 10);
const times = [];
for (let s = 0; s < num('steps', 5); s++) {
  const t0 = performance.now();
  const r = trainStep(model, opt, { images, labels, shape: [B, 1, 28, 28], noiseStd: 0.05, noiseSeed: s, lr: 1e-4, gradClip: 1, updatePrior: true });
  times.push(performance.now() - t0);
  console.log(`step ${s}: ${(times.at(-1) / 1000).toFixed(3)} s loss ${r.loss.toFixed(4)} tensors ${tf.memory().numTensors}`);
}
const steady = times.slice(1);
console.log(JSON.stringify({ backend: tf.getBackend(), config, batch: B, params: nParams, mb: (nParams * 4) / 2 ** 20, meanStepS: steady.reduce((a, b) => a + b, 0) / steady.length / 1000 }));
