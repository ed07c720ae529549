/**
 * Side-by-side wall time of model.sample with engine 'plain' and 'fused' on
 * the default model: guided sequential sampling (its recommended settings),
 * on one backend (wasm by default), median of 3 per batch size, plus the
 * kernels per sequential block-step (tf.profile) and max |fused − plain|.
 * Not a test: run it by hand (after `pnpm build`):
 *
 *     node --import tsx studies/time-fused.ts [backend] [batches]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededNoise, tf, type PatchSeq } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { median } from '@tarflow/metrics';
import { cycleLabels, loadModel, type SampleOptions, type TarFlow } from '@tarflow/model';

const backend = process.argv[2] ?? 'wasm';
const batches = (process.argv[3] ?? '1,8').split(',').map(Number);

await tf.setBackend(backend);
await tf.ready();
const here = dirname(fileURLToPath(import.meta.url));
const model: TarFlow = loadModel(new Uint8Array(readFileSync(join(here, '..', 'packages', 'zoo', 'assets', 'mnist-cond.safetensors'))));
const { guidance, temperature } = model.recommended ?? {};

console.log(`backend ${backend}; model.sample, guidance ${guidance?.scale ?? 0}, sequential, ${model.blocks.length} blocks × ${model.tokens - 1} steps`);
console.log('batch | plain ms (median of 3) | fused ms (median of 3) | speed-up | kernels per block-step plain / fused | max |fused − plain|');
for (const B of batches) {
  const labels = tf.tensor1d(cycleLabels(B, model.config.num_classes), 'int32');
  const noise = seededNoise(0, [...Array(B).keys()], model.tokens, model.patchDim) as PatchSeq;
  const options: SampleOptions = { labels, guidance, temperature };
  const time = (engine: 'plain' | 'fused') => {
    const ms: number[] = [];
    let out: tf.Tensor | null = null;
    for (let i = 0; i < 3; i++) {
      out?.dispose();
      const t0 = performance.now();
      const r = model.sample(noise, { ...options, engine });
      if (r.report.engine.name !== engine) throw new Error(`engine ${engine} unavailable: ${r.report.engine.reason}`);
      r.images.dataSync();
      ms.push(performance.now() - t0);
      out = r.images;
    }
    return { ms: median(ms), out: out! };
  };
  const plain = time('plain');
  const fused = time('fused');
  const kp = await kernelsPerStep(options, 'plain', noise);
  const kf = await kernelsPerStep(options, 'fused', noise);
  const err = tf.tidy(() => tf.max(tf.abs(tf.sub(fused.out, plain.out))).dataSync()[0]);
  console.log(`${B} | ${plain.ms.toFixed(0)} | ${fused.ms.toFixed(0)} | ${(plain.ms / fused.ms).toFixed(2)}× | ${kp.toFixed(1)} / ${kf.toFixed(1)} | ${err.toExponential(2)}`);
  tf.dispose([labels, noise, plain.out, fused.out]);
}
model.dispose();

/** Kernels per sequential block-step of one model.sample (all blocks), from tf.profile. */
async function kernelsPerStep(options: SampleOptions, engine: 'plain' | 'fused', noise: PatchSeq): Promise<number> {
  const info = await tf.profile(() => {
    model.sample(noise, { ...options, engine }).images.dispose();
    return [] as tf.Tensor[];
  });
  return info.kernels.length / (model.blocks.length * (model.tokens - 1));
}
