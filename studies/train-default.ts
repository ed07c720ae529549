/**
 * Trains (or resumes) the default class-conditional MNIST TarFlow with
 * @tarflow/train's DEFAULT_MNIST_RECIPE; the shipped model and its commands
 * are in docs/training.md. Re-running the same command resumes from the
 * newest checkpoint in --out; `--steps N --extend` continues a finished run to
 * N steps (the cosine schedule restarts from the resume point). `--dataset
 * fashion-mnist` trains the same recipe on Fashion-MNIST's train split. SIGINT /
 * SIGTERM write a checkpoint and stop.
 */
import { fileURLToPath } from 'node:url';
import { selectBackend } from '@tarflow/backends';
import { DEFAULT_MNIST_RECIPE, formatProgress, trainTarFlow } from '@tarflow/train';
import { studyArgs, type BooleanOption, type StringOption, type StudyOption } from './args.js';

type Recipe = typeof DEFAULT_MNIST_RECIPE;
/** The recipe's numeric fields, each overridable as --kebab-case-name. */
const NUMERIC = (Object.keys(DEFAULT_MNIST_RECIPE) as (keyof Recipe)[]).filter((k) => typeof DEFAULT_MNIST_RECIPE[k] === 'number');
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const recipeOptions: Record<string, StudyOption> = Object.fromEntries(NUMERIC.map((k) => [kebab(k), { type: 'string', help: `overrides the recipe's ${k} (${DEFAULT_MNIST_RECIPE[k]})` }]));
type Options = { out: StringOption & { default: string }; dataset: StringOption & { default: string }; extend: BooleanOption; 'stop-after': StringOption } & Record<string, StudyOption>;

const args = studyArgs({
  usage: 'node --import tsx studies/train-default.ts [--out DIR] [--steps N] [--extend] [--stop-after N] [recipe overrides]',
  description: 'Trains or resumes the default MNIST TarFlow (checkpoints, sample grids and model.safetensors in --out).',
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('./.runs/mnist-cond', import.meta.url)), help: 'run folder' },
    dataset: { type: 'string', default: 'mnist', help: "training set: 'mnist' or 'fashion-mnist' (its train split)" },
    extend: { type: 'boolean', help: 'continue a finished run to the new --steps' },
    'stop-after': { type: 'string', help: 'stop (with a checkpoint) after this step' },
    ...recipeOptions,
  } as Options,
});
const overrides: Record<string, number> = {};
for (const k of NUMERIC) if (args.values[kebab(k)] !== undefined) overrides[k] = args.number(kebab(k));
if (args.values['stop-after'] !== undefined) overrides.stopAfter = args.number('stop-after', true);
const backend = await selectBackend('wasm');
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
const result = await trainTarFlow({
  ...DEFAULT_MNIST_RECIPE,
  dataset,
  ...overrides,
  outDir,
  resume: 'auto',
  extend: args.values.extend,
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
