/**
 * Checks a model file's shipped plans on samples the planner never saw: each
 * shipped plan for the wasm backend (or --backend) is run on --count samples
 * of noise seed --seed (classes in turn), --batch at a time — the smallest
 * batch the plans are kept for — against the exact sequential sampler of the
 * same noise, at the file's recommended guidance and temperature. Prints the
 * mean and largest |Δ| and the depth per batch. Results are in docs/planner.md.
 *
 *   node --import tsx studies/check-shipped-plans.ts --file packages/zoo/assets/mnist-cond.safetensors
 */
import { readFileSync } from 'node:fs';
import { tf } from '@tarflow/tensor';
import { parseSafetensors } from '@tarflow/checkpoint';
import { selectBackend } from '@tarflow/backends';
import { cycleLabels, loadModel } from '@tarflow/model';
import { readShippedPlans } from '@tarflow/metrics';
import { studyArgs } from './args.js';

const args = studyArgs({
  usage: 'node --import tsx studies/check-shipped-plans.ts --file MODEL.safetensors [options]',
  description: "Runs a model file's shipped plans on unseen noise against the sequential sampler.",
  options: {
    file: { type: 'string', help: 'model file with shipped plans (required)' },
    backend: { type: 'string', default: 'wasm', help: 'the backend whose plans are checked (and run on)' },
    count: { type: 'string', default: '96', help: 'samples' },
    batch: { type: 'string', default: '16', help: 'samples per solve' },
    seed: { type: 'string', default: '7', help: 'noise seed' },
  },
});
const path = args.values.file ?? args.fail('--file is required');
const N = args.number('count', true);
const B = args.number('batch', true);
await selectBackend(args.backend());
const bytes = new Uint8Array(readFileSync(path));
const { shipped, problem } = readShippedPlans(parseSafetensors(bytes).metadata);
if (problem) args.fail(`${path}: ${problem}`);
const model = loadModel(bytes);
const { guidance, temperature } = model.recommended ?? {};
const K = model.config.num_classes;
const labels = K > 0 ? tf.tensor1d(cycleLabels(N, K), 'int32') : undefined;
const noise = tf.randomNormal([N, model.tokens, model.patchDim], 0, 1, 'float32', args.number('seed', true)) as tf.Tensor3D;
const slice = (a: number, n: number) => ({ z: tf.slice(noise, a, n) as tf.Tensor3D, l: labels ? (tf.slice(labels, a, n) as tf.Tensor1D) : undefined });
const exact: tf.Tensor[] = [];
for (let a = 0; a < N; a += B) {
  const { z, l } = slice(a, Math.min(B, N - a));
  exact.push(model.sample(z, { labels: l, guidance, temperature }).images);
  tf.dispose([z, ...(l ? [l] : [])]);
}
const records = shipped.plans.filter((r) => r.backend === args.values.backend);
if (records.length === 0) args.fail(`${path}: no shipped plans for ${args.values.backend}`);
for (const r of records) {
  const table = r.plan.guessTableHash ? shipped.tables[r.plan.guessTableHash] : undefined;
  let sum = 0;
  let max = 0;
  const depths: number[] = [];
  for (let a = 0, c = 0; a < N; a += B, c++) {
    const { z, l } = slice(a, Math.min(B, N - a));
    const s = model.sample(z, { labels: l, guidance, temperature, engine: r.engine, strategy: r.plan.strategy, guessTable: table });
    const d = tf.abs(tf.sub(s.images, exact[c]));
    sum += tf.sum(d).dataSync()[0];
    max = Math.max(max, tf.max(d).dataSync()[0]);
    depths.push(s.report.depth);
    tf.dispose([z, ...(l ? [l] : []), s.images, d]);
  }
  const depth = depths.reduce((x, y) => x + y, 0) / depths.length;
  console.log(
    `${r.backend} ${r.engine} ${r.objective}: ${r.plan.text} — mean |Δ| ${(sum / exact.reduce((a, t) => a + t.size, 0)).toExponential(2)}, max ${max.toFixed(3)}, ` +
      `depth per batch ${+depth.toFixed(1)} (${depths.join(' ')}) of ${model.blocks.length * (model.tokens - 1)}`,
  );
}
