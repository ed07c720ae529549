/**
 * Trains (or resumes) the default class-conditional MNIST TarFlow with
 * @tarflow/train's DEFAULT_MNIST_RECIPE; the shipped model and its commands
 * are in docs/training.md. Re-running the same command resumes from the
 * newest checkpoint in --out; `--steps N --extend` continues a finished run to
 * N steps (the cosine schedule restarts from the resume point). `--dataset
 * fashion-mnist` trains the same recipe on Fashion-MNIST's train split.
 * `--backend` picks the tfjs backend (default wasm; `webgpu` trains on a GPU
 * through Dawn, as scripts/gpu-train.sh does). SIGINT / SIGTERM write a
 * checkpoint and stop when training next awaits (at a checkpoint);
 * `--stop-after-seconds` stops after the step in progress. The last line gives
 * the steps per second of this run.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseSafetensorsHeader } from '@tarflow/checkpoint';
import { loadDataset, subset, type ImageDataset } from '@tarflow/data';
import { configFromMetadata } from '@tarflow/model';
import { selectBackend } from '@tarflow/backends';
import { DEFAULT_MNIST_RECIPE, formatProgress, trainTarFlow } from '@tarflow/train';
import { studyArgs, type BooleanOption, type StringOption, type StudyOption } from './args.js';

type Recipe = typeof DEFAULT_MNIST_RECIPE;
/** The recipe's numeric fields, each overridable as --kebab-case-name. */
const NUMERIC = (Object.keys(DEFAULT_MNIST_RECIPE) as (keyof Recipe)[]).filter((k) => typeof DEFAULT_MNIST_RECIPE[k] === 'number');
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const recipeOptions: Record<string, StudyOption> = Object.fromEntries(NUMERIC.map((k) => [kebab(k), { type: 'string', help: `overrides the recipe's ${k} (${DEFAULT_MNIST_RECIPE[k]})` }]));
type Options = {
  out: StringOption & { default: string };
  dataset: StringOption & { default: string };
  backend: StringOption & { default: string };
  extend: BooleanOption;
  init: StringOption;
  oversample: StringOption;
  'stop-after': StringOption;
  'stop-after-seconds': StringOption;
} & Record<string, StudyOption>;

const args = studyArgs({
  usage: 'node --import tsx studies/train-default.ts [--out DIR] [--dataset NAME] [--backend NAME] [--steps N] [--extend] [--init FILE] [--oversample CLASS:TIMES,...] [--stop-after N] [recipe overrides]',
  description: 'Trains or resumes the default MNIST TarFlow (checkpoints, sample grids and model.safetensors in --out).',
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('./.runs/mnist-cond', import.meta.url)), help: 'run folder' },
    dataset: { type: 'string', default: 'mnist', help: "training set: 'mnist' or 'fashion-mnist' (its train split)" },
    backend: { type: 'string', default: 'wasm', help: 'tfjs backend: wasm, cpu or webgpu (Node WebGPU through Dawn)' },
    extend: { type: 'boolean', help: 'continue a finished run to the new --steps' },
    init: { type: 'string', help: "start from this model file's weights (fine-tuning, or a model from grow-model.ts); the run takes its config" },
    oversample: { type: 'string', help: "repeat the training images of some classes, CLASS:TIMES[,...] (e.g. 2:3,5:3: every two and five three times per epoch)" },
    'stop-after': { type: 'string', help: 'stop (with a checkpoint) after this step' },
    'stop-after-seconds': { type: 'string', help: 'stop (with a checkpoint) after the first step that ends past this many seconds' },
    ...recipeOptions,
  } as Options,
});
const overrides: Record<string, number> = {};
for (const k of NUMERIC) if (args.values[kebab(k)] !== undefined) overrides[k] = args.number(kebab(k));
if (args.values['stop-after'] !== undefined) overrides.stopAfter = args.number('stop-after', true);
const stopAfterSeconds = args.values['stop-after-seconds'] !== undefined ? args.number('stop-after-seconds') : Infinity;
const preference = args.backend();
const backend = await selectBackend(preference);
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => controller.abort());
const tty = process.stdout.isTTY;
const stamp = () => new Date().toISOString().slice(0, 19);
const outDir = args.values.out;
console.log(`${stamp()} backend ${backend.name}; outDir ${outDir}; overrides ${JSON.stringify(overrides)}`);
const dataset = args.values.dataset;
if (dataset !== 'mnist' && dataset !== 'fashion-mnist') {
  console.error(`--dataset: '${dataset}' is not one of mnist, fashion-mnist`);
  process.exit(2);
}
const initConfig = await (async () => {
  if (args.values.init === undefined) return undefined;
  try {
    // The config from the file's header (trainTarFlow loads the weights and checks them against it).
    const bytes = await readFile(args.values.init);
    return configFromMetadata(parseSafetensorsHeader(bytes, bytes.length).metadata);
  } catch (e) {
    return args.fail(`--init: ${(e as Error).message}`);
  }
})();
/** The training set with the classes named by --oversample repeated (the run's definition records its name and size). */
const trainSet = ((): ImageDataset | undefined => {
  const spec = args.values.oversample;
  if (spec === undefined) return undefined;
  const times = new Map<number, number>();
  for (const part of spec.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(part.trim());
    if (!m || Number(m[2]) < 1) return args.fail(`--oversample: '${part}' is not CLASS:TIMES with TIMES >= 1 (e.g. 2:3,5:3)`);
    times.set(Number(m[1]), Number(m[2]));
  }
  const ds = loadDataset(dataset, { split: 'train' });
  for (const c of times.keys()) if (c >= ds.numClasses) return args.fail(`--oversample: class ${c} is not one of 0..${ds.numClasses - 1}`);
  const indices: number[] = [];
  for (let i = 0; i < ds.count; i++) for (let r = times.get(ds.labels[i]) ?? 1; r > 0; r--) indices.push(i);
  const name = `${ds.name} oversampled ${[...times].map(([c, t]) => `${c}x${t}`).join(' ')}`;
  console.log(`${stamp()} training set ${name}: ${indices.length} images (${ds.count} distinct)`);
  return subset(ds, indices, name);
})();
let firstStep = 0;
const t0 = performance.now();
const result = await trainTarFlow({
  ...DEFAULT_MNIST_RECIPE,
  dataset: trainSet ?? dataset,
  ...(initConfig ? { config: initConfig, init: args.values.init } : {}),
  ...overrides,
  outDir,
  resume: 'auto',
  extend: args.values.extend,
  signal: controller.signal,
  checkpointOnAbort: true,
  onLog: (m) => console.log(`${stamp()} ${m}`),
  onResume: ({ step }) => {
    firstStep = step;
  },
  onProgress: (p) => {
    // Signals are seen only when training awaits (at checkpoints); a time budget is checked after every step.
    if ((performance.now() - t0) / 1000 >= stopAfterSeconds) controller.abort();
    const line = formatProgress(p);
    if (tty) process.stdout.write(`\r${line}`);
    else if (p.step % 10 === 0 || p.step === p.totalSteps || p.step < 5) console.log(`${stamp()} ${line}`);
  },
  onCheckpoint: ({ step, path }) => console.log(`${tty ? '\n' : ''}${stamp()} checkpoint step ${step}: ${path}`),
  onSample: ({ step, path }) => console.log(`${stamp()} samples step ${step}: ${path}`),
});
const seconds = (performance.now() - t0) / 1000;
console.log(`${stamp()} ${result.finished ? 'finished' : 'stopped'} at step ${result.step}; last checkpoint ${result.lastCheckpoint}`);
console.log(`${stamp()} ${result.step - firstStep} steps in ${seconds.toFixed(0)} s on ${backend.name}: ${((result.step - firstStep) / seconds).toFixed(3)} steps/s (set-up and checkpoints included)`);
result.model.dispose();
