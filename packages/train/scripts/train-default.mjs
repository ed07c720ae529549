#!/usr/bin/env node
// Trains (or resumes) the default class-conditional MNIST TarFlow with the
// recipe in src/recipes.ts. Build first: `pnpm --filter @tarflow/train build`.
//
//   nice -n 10 node packages/train/scripts/train-default.mjs [outDir] [key=value ...] [--extend]
//
// outDir defaults to packages/train/.runs/mnist-cond. key=value pairs override
// numeric recipe fields (steps=…, batchSize=…, lr=…), and stopAfter=N stops
// (with a checkpoint) after step N. The shipped model: see docs/training.md. Re-running the same command resumes from the newest
// checkpoint in outDir; add `steps=N --extend` to continue a finished run to N
// steps (the cosine schedule restarts from the resume point). SIGINT / SIGTERM
// write a checkpoint and stop.
import { fileURLToPath } from 'node:url';
import { DEFAULT_MNIST_RECIPE, formatProgress, initBackend, trainTarFlow } from '../dist/index.js';

const argv = process.argv.slice(2);
const outDir = argv[0] && !argv[0].includes('=') ? argv.shift() : fileURLToPath(new URL('../.runs/mnist-cond', import.meta.url));
const extend = argv.includes('--extend');
const overrides = Object.fromEntries(
  argv.filter((a) => a !== '--extend').map((a) => {
    const [k, v] = a.split('=');
    if (!(k in DEFAULT_MNIST_RECIPE || k === 'stopAfter') || !Number.isFinite(Number(v))) throw new Error(`unknown or non-numeric override '${a}'`);
    return [k, Number(v)];
  }),
);
const backend = await initBackend('wasm');
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => controller.abort());
const tty = process.stdout.isTTY;
const stamp = () => new Date().toISOString().slice(0, 19);
console.log(`${stamp()} backend ${backend}; outDir ${outDir}; overrides ${JSON.stringify(overrides)}`);
const result = await trainTarFlow({
  ...DEFAULT_MNIST_RECIPE,
  ...overrides,
  outDir,
  resume: 'auto',
  extend,
  signal: controller.signal,
  checkpointOnAbort: true,
  onLog: (m) => console.log(`${stamp()} ${m}`),
  onProgress: (p) => {
    const line = formatProgress(p);
    if (tty) process.stdout.write(`\r${line}`);
    else if (p.step % 10 === 0 || p.step === p.totalSteps || p.step < 5) console.log(`${stamp()} ${line}`);
  },
  onCheckpoint: ({ step, path }) => console.log(`${tty ? '\n' : ''}${stamp()} checkpoint step ${step}: ${path}`),
  onSample: ({ step, path }) => console.log(`${stamp()} samples step ${step}: ${path}`),
});
console.log(`${stamp()} ${result.finished ? 'finished' : 'stopped'} at step ${result.step}; last checkpoint ${result.lastCheckpoint}`);
result.model.dispose();
