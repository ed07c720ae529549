/**
 * Measures the time of one TarFlow training step (forward, backward, AdamW)
 * on MNIST-sized inputs, to size a run before starting it.
 */
import { tf } from '@tarflow/tensor';
import { selectBackend } from '@tarflow/backends';
import { TarFlow, type TarFlowConfig } from '@tarflow/model';
import { AdamW, trainStep } from '@tarflow/train';
import { studyArgs } from './args.js';

const args = studyArgs({
  usage: 'node --import tsx studies/measure-step.ts [--channels 128] [--layers 2] [--blocks 4] [--batch 64] [options]',
  description: 'Times training steps of a class-conditional MNIST TarFlow of the given size; prints each step and a JSON summary.',
  options: {
    channels: { type: 'string', default: '128', help: 'transformer channels' },
    layers: { type: 'string', default: '2', help: 'layers per block' },
    blocks: { type: 'string', default: '4', help: 'blocks' },
    patch: { type: 'string', default: '4', help: 'patch size' },
    'head-dim': { type: 'string', default: '64', help: 'attention head size' },
    expansion: { type: 'string', default: '4', help: 'MLP expansion' },
    batch: { type: 'string', default: '64', help: 'batch size' },
    steps: { type: 'string', default: '5', help: 'steps to time (the first is warm-up)' },
    backend: { type: 'string', default: 'wasm', help: 'tfjs backend (auto, webgpu, wasm, cpu)' },
  },
});
const int = (name: Parameters<typeof args.number>[0]) => args.number(name, true);
await selectBackend(args.backend());
const config: TarFlowConfig = {
  in_channels: 1,
  img_size: 28,
  patch_size: int('patch'),
  channels: int('channels'),
  num_blocks: int('blocks'),
  layers_per_block: int('layers'),
  num_classes: 10,
  noise_std: 0.05,
  head_dim: int('head-dim'),
  expansion: int('expansion'),
  nvp: true,
};
const B = int('batch');
const model = TarFlow.init(config, 0);
const params = model.trainableVariables();
const nParams = params.reduce((n, p) => n + p.size, 0);
const opt = new AdamW(params);
const images = new Float32Array(B * 784).map(() => Math.random() * 2 - 1);
const labels = new Int32Array(B).map((_, i) => i % 10);
const times: number[] = [];
for (let s = 0; s < int('steps'); s++) {
  const t0 = performance.now();
  const r = trainStep(model, opt, { images, labels, shape: [B, 1, 28, 28], noiseStd: 0.05, noiseSeed: s, lr: 1e-4, gradClip: 1, updatePrior: true });
  times.push(performance.now() - t0);
  console.log(`step ${s}: ${(times[s] / 1000).toFixed(3)} s loss ${r.loss.toFixed(4)} tensors ${tf.memory().numTensors}`);
}
const steady = times.slice(1);
console.log(JSON.stringify({ backend: tf.getBackend(), config, batch: B, params: nParams, mb: (nParams * 4) / 2 ** 20, meanStepS: steady.reduce((x, y) => x + y, 0) / steady.length / 1000 }));
