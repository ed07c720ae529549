/**
 * Ships a trained TarFlow into @tarflow/zoo: copies a run's model file to the
 * zoo model's asset with the zoo's recommended sampling settings stamped into
 * its `sampling` metadata (what `loadModel` reads into `model.recommended`),
 * the file's other metadata (config, train_step) kept and shipped plans
 * dropped (they are for other weights; `tarflow plan --save-into` makes new
 * ones). Written atomically. E.g., after (or during) the Fashion-MNIST run:
 *
 *   node --import tsx studies/ship-model.ts --model fashion-mnist
 *
 * copies studies/.runs/fashion-cond/model.safetensors to
 * packages/zoo/assets/fashion-cond.safetensors with FASHION_MODEL_SAMPLING.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, serializeSafetensors } from '@tarflow/checkpoint';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { selectBackend } from '@tarflow/backends';
import { loadModel, parseRecommendedSampling, SAMPLING_KEY } from '@tarflow/model';
import { zooModel, zooModelNames, type ZooModel } from '@tarflow/zoo';
import { studyArgs } from './args.js';

/** The run folder train-default.ts writes for each zoo model. */
const RUN_DIRS: Record<string, string> = { mnist: 'mnist-cond', 'fashion-mnist': 'fashion-cond' };

const args = studyArgs({
  usage: 'node --import tsx studies/ship-model.ts --model NAME [--from FILE] [--out FILE] [--guidance S] [--temperature T] [--denoise on|off] [--train-step N]',
  description:
    "Copies a trained model file to a zoo model's asset with the zoo's recommended sampling settings in its 'sampling' metadata " +
    '(flags override them; the zoo constant in packages/zoo/src/index.ts must then be updated to match).',
  options: {
    model: { type: 'string', help: `zoo model: ${zooModelNames().join(', ')}` },
    from: { type: 'string', help: "the trained model file (default: studies/.runs/<run>/model.safetensors, the run's newest weights)" },
    out: { type: 'string', help: "where to write (default: the zoo model's asset in packages/zoo/assets/)" },
    guidance: { type: 'string', help: "classifier-free guidance scale (default: the zoo's)" },
    temperature: { type: 'string', help: "sampling temperature (default: the zoo's)" },
    denoise: { type: 'string', help: "one denoising step: on or off (default: the zoo's)" },
    'train-step': { type: 'string', help: "training steps in all to record as train_step (for weights fine-tuned from another run's: both runs' steps; default: the file's)" },
  },
});
const zoo = ((name: string | undefined): ZooModel => {
  if (name === undefined) return args.fail('--model is required');
  try {
    return zooModel(name);
  } catch (e) {
    return args.fail((e as Error).message);
  }
})(args.values.model);
const from = args.values.from ?? fileURLToPath(new URL(`./.runs/${RUN_DIRS[zoo.name]}/model.safetensors`, import.meta.url));
const out = args.values.out ?? fileURLToPath(zoo.modelUrl);
if (args.values.denoise !== undefined && !['on', 'off'].includes(args.values.denoise)) args.fail(`--denoise: expected on or off, got '${args.values.denoise}'`);
const sampling = parseRecommendedSampling({
  guidance: { ...zoo.sampling.guidance, ...(args.values.guidance !== undefined ? { scale: args.number('guidance') } : {}) },
  temperature: args.values.temperature !== undefined ? args.number('temperature') : zoo.sampling.temperature,
  denoise: args.values.denoise !== undefined ? args.values.denoise === 'on' : zoo.sampling.denoise,
});

await selectBackend('wasm');
const file = parseSafetensors(new Uint8Array(await readFile(from)));
const { plans: _stale, ...kept } = file.metadata;
if (args.values['train-step'] !== undefined) kept.train_step = String(args.number('train-step', true));
const bytes = serializeSafetensors(file.tensors, { ...kept, [SAMPLING_KEY]: JSON.stringify(sampling) });
const model = loadModel(bytes); // checks config and tensors, and that the settings read back
const classes = model.config.num_classes;
const recommended = JSON.stringify(model.recommended);
model.dispose();
if (classes !== zoo.classNames.length) args.fail(`${from}: the model has ${classes} classes, the zoo model ${zoo.name} has ${zoo.classNames.length}`);
await writeFileAtomic(out, bytes);
console.log(`wrote ${out} (${bytes.length} bytes) from ${from}: train_step ${kept.train_step ?? '?'}, sampling ${recommended}${_stale ? ' (its old plans dropped)' : ''}`);
