import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@tarflow/tensor';
import type { FusedBlockWeights } from '@tarflow/kernels';
import type { TarFlow } from '../src/index.js';

export * from '@tarflow/test-fixtures';

/** The engines every sampling conformance test runs on. */
export const ENGINES = ['plain', 'fused'] as const;

/** The embedded default model (a class-conditional MNIST TarFlow). */
export function defaultModelBytes(): Uint8Array {
  const here = dirname(fileURLToPath(import.meta.url));
  return new Uint8Array(readFileSync(join(here, '..', '..', 'zoo', 'assets', 'mnist-cond.safetensors')));
}

/** Block `index` of a model as fused weights (its position embedding in sampling order); `owned` are the tensors made here. */
export function blockWeights(model: TarFlow, index: number): { weights: FusedBlockWeights; owned: tf.Tensor[] } {
  const b = model.blocks[index];
  const pos = b.flip ? tf.reverse(b.posEmbed, 0) : tf.clone(b.posEmbed);
  return { weights: { projIn: b.projIn, posEmbed: pos, classEmbed: b.classEmbed, layers: b.layers, projOut: b.projOut }, owned: [pos] };
}

