/**
 * Grows a trained TarFlow by appending blocks that start as the identity, so
 * that training can go on from the trained model with more capacity:
 *
 *     x → f_0 → … → f_{K−1} → g_K → … → g_{K+N−1} → z
 *
 * The K trained blocks keep their weights and their index (and so their
 * permutation: odd blocks read the sequence reversed); each new block g is a
 * fresh block (TarFlow.init with the same seed rule) whose output projection —
 * weight and bias — is zero, so its α = γ = 0 and g(x) = x. The grown model
 * therefore computes exactly the trained one's likelihood and samples; the
 * learned prior variance is kept. Train it with `train-default.ts --init FILE`.
 *
 *   node --import tsx studies/grow-model.ts --model packages/zoo/assets/mnist-cond.safetensors \
 *     --add-blocks 2 --out studies/.runs/mnist-grow6.safetensors
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { selectBackend } from '@tarflow/backends';
import { loadModel, saveModel, TarFlow } from '@tarflow/model';
import { tf } from '@tarflow/tensor';
import { studyArgs } from './args.js';

const args = studyArgs({
  usage: 'node --import tsx studies/grow-model.ts --model FILE --add-blocks N --out FILE',
  description: 'Appends N identity-initialised blocks to a trained TarFlow (same likelihood and samples) for further training.',
  options: {
    model: { type: 'string', help: 'trained model .safetensors' },
    'add-blocks': { type: 'string', default: '2', help: 'blocks to append' },
    out: { type: 'string', help: 'where to write the grown model' },
  },
});
if (!args.values.model || !args.values.out) args.fail('--model and --out are required');
const add = args.number('add-blocks', true);
await selectBackend('cpu');
const trained = loadModel(await readFile(args.values.model!));
const config = { ...trained.config, num_blocks: trained.config.num_blocks + add };
const fresh = TarFlow.init(config);
const extra = fresh.blocks.slice(trained.config.num_blocks);
for (const b of extra) b.projOut.bias.assign(tf.zerosLike(b.projOut.bias));
const grown = new TarFlow(config, [...trained.blocks, ...extra], trained.priorVar);
await writeFileAtomic(args.values.out!, saveModel(grown, { grown_from: `${trained.config.num_blocks} blocks + ${add} identity blocks` }));
console.log(`wrote ${args.values.out} (${config.num_blocks} blocks; the first ${trained.config.num_blocks} from ${args.values.model})`);
