#!/usr/bin/env node
// Sample accuracy of a class-conditional MNIST TarFlow, judged by the shipped
// classifier. Build first: `pnpm --filter @tarflow/train build`.
//
//   nice -n 10 node packages/train/scripts/evaluate-default.mjs [model.safetensors] [perClass=10] [scales=0,1,2,3] [denoise=both|on|off] [temps=1] [on=both|alpha|gamma] [annealed=0|1] [attnTemp=1] [grid=path.png] [seed=0]
//
// Default model: packages/zoo/assets/mnist-cond.safetensors. For each guidance
// sampling temperature, guidance scale and with/without the denoising step it prints the fraction of samples
// the classifier reads as the requested digit; `grid=` writes the samples of
// the first setting as a PNG (one column per digit).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { loadModel } from '@tarflow/model';
import { loadClassifier } from '@tarflow/metrics';
import { initBackend, sampleAccuracy, sampleAccuracyGrid } from '../dist/index.js';

const argv = process.argv.slice(2);
const path = argv[0] && !argv[0].includes('=') ? argv.shift() : fileURLToPath(new URL('../../zoo/assets/mnist-cond.safetensors', import.meta.url));
const args = Object.fromEntries(argv.map((a) => a.split('=')));
const perClass = Number(args.perClass ?? 10);
const scales = (args.scales ?? '0,1,2,3').split(',').map(Number);
const denoise = { both: [false, true], on: [true], off: [false] }[args.denoise ?? 'both'];
const seed = Number(args.seed ?? 0);
const temps = (args.temps ?? '1').split(',').map(Number);
await initBackend('wasm');
const bytes = new Uint8Array(await readFile(path));
const model = loadModel(bytes);
const classifier = loadClassifier(new Uint8Array(await readFile(fileURLToPath(new URL('../../zoo/assets/mnist-classifier.safetensors', import.meta.url)))));
console.log(`model ${path} (${JSON.stringify(model.config)}), ${perClass} samples per digit, seed ${seed}`);
let first = true;
for (const temperature of temps) for (const scale of scales) {
  for (const d of denoise) {
    const guidance = scale > 0 ? { scale, on: args.on ?? 'both', annealed: args.annealed === '1', attnTemp: Number(args.attnTemp ?? 1) } : undefined;
    const r = sampleAccuracy(model, classifier, { perClass, guidance, denoise: d, seed, temperature });
    console.log(
      `temperature ${temperature} guidance ${scale} denoise ${d ? 'on ' : 'off'}: accuracy ${(100 * r.accuracy).toFixed(1)}% ` +
        `(per digit ${r.perClass.map((a) => Math.round(100 * a)).join(' ')}) in ${(r.sampleMs / 1000).toFixed(1)} s`,
    );
    if (first && args.grid) {
      await writeFileAtomic(args.grid, sampleAccuracyGrid(r, model.config.num_classes));
      console.log(`wrote ${args.grid}`);
    }
    first = false;
  }
}
model.dispose();
classifier.dispose();
