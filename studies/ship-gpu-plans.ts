/**
 * Serves a model file's shipped wasm depth plan to WebGPU runs as well, when no GPU was lent to time a
 * WebGPU plan: the `depth`-objective record made on wasm (fused engine) is copied, with a note saying so,
 * to webgpu × {plain, fused} × {depth, time} (a depth plan is engine-independent in quality, and depth is
 * what a GPU turns into time). Existing webgpu records are replaced; the file is rewritten atomically.
 *
 *   node --import tsx studies/ship-gpu-plans.ts --file packages/zoo/assets/mnist-cond.safetensors
 */
import { readFile } from 'node:fs/promises';
import { parseSafetensors, serializeSafetensors } from '@tarflow/checkpoint';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { studyArgs } from './args.js';

const NOTE = 'the depth-objective plan made on wasm (fused engine): no GPU was available to time one; depth is what a GPU turns into time';

const args = studyArgs({
  usage: 'node --import tsx studies/ship-gpu-plans.ts --file MODEL.safetensors',
  description: "Copies a model file's wasm depth plan to webgpu (plain and fused engines, depth and time objectives), with a note.",
  options: { file: { type: 'string', help: 'model file with shipped plans (tarflow plan --save-into)' } },
});
const path = args.values.file ?? args.fail('--file is required');
const file = parseSafetensors(new Uint8Array(await readFile(path)));
if (!file.metadata.plans) args.fail(`${path}: no shipped plans (make the wasm depth plan with tarflow plan --save-into first)`);
const shipped = JSON.parse(file.metadata.plans!) as { tables: Record<string, unknown>; plans: Array<Record<string, unknown>> };
const source = shipped.plans.find((r) => r.backend === 'wasm' && r.engine === 'fused' && r.objective === 'depth');
if (!source) args.fail(`${path}: no wasm depth plan on the fused engine to copy`);
const copies = ['plain', 'fused'].flatMap((engine) => ['depth', 'time'].map((objective) => ({ ...source, backend: 'webgpu', engine, objective, note: NOTE })));
const plans = [...shipped.plans.filter((r) => r.backend !== 'webgpu'), ...copies];
await writeFileAtomic(path, serializeSafetensors(file.tensors, { ...file.metadata, plans: JSON.stringify({ ...shipped, plans }) }));
console.log(`${path}: ${copies.length} webgpu records from the wasm depth plan; ${plans.length} plans in all`);
