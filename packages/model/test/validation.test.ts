import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32Tensor, parseSafetensors, serializeSafetensors, type RawTensor } from '@tarflow/checkpoint';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { loadModel, validateConfig, type TarFlowConfig } from '../src/index.js';
import { ENGINES, fixturesDir, useBackend } from './helpers.js';

const bytes = () => new Uint8Array(readFileSync(join(fixturesDir(), 'tiny-cond.safetensors')));

/** The fixture with its tensor map and/or metadata edited. */
function edited(edit: (t: Map<string, RawTensor>, meta: Record<string, string>) => void): Uint8Array {
  const f = parseSafetensors(bytes());
  const meta = { ...f.metadata };
  edit(f.tensors, meta);
  return serializeSafetensors(f.tensors, meta);
}

/** Sets `count` values of tensor `name` to `value`. */
function poisoned(name: string, value: number, count: number): Uint8Array {
  return edited((t) => {
    const raw = t.get(name)!;
    const data = new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength));
    for (let i = 0; i < count; i++) data[i * 3] = value;
    t.set(name, f32Tensor(raw.shape, data));
  });
}

const CONFIG: TarFlowConfig = { in_channels: 1, img_size: 8, patch_size: 2, channels: 64, num_blocks: 2, layers_per_block: 1, num_classes: 3, noise_std: 0.1, head_dim: 32, expansion: 2, nvp: true };

describe('model-side validation', () => {
  beforeAll(async () => useBackend('cpu'));

  it('refuses a model with non-finite weights or buffers, naming the tensor and the count', () => {
    const before = tf.memory().numTensors;
    expect(() => loadModel(poisoned('blocks.1.proj_in.weight', NaN, 3))).toThrow(/tensor 'blocks\.1\.proj_in\.weight' holds 3 non-finite values \(NaN or Infinity\) of \d+/);
    expect(() => loadModel(poisoned('var', Infinity, 1))).toThrow(/tensor 'var' holds 1 non-finite value \(/);
    expect(tf.memory().numTensors).toBe(before); // what was loaded before the bad tensor is freed
  });

  it('loadModel takes a Uint8Array or an ArrayBuffer, and says what else it got', () => {
    const b = bytes();
    const m = loadModel(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    expect(m.config.channels).toBe(128);
    m.dispose();
    const message = 'loadModel: expected the bytes of a .safetensors file (Uint8Array or ArrayBuffer), got';
    expect(() => loadModel('text' as never)).toThrow(`${message} a string`);
    expect(() => loadModel(undefined as never)).toThrow(`${message} undefined`);
    expect(() => loadModel([1, 2] as never)).toThrow(`${message} an array`);
    expect(() => loadModel(new Float32Array(4) as never)).toThrow(`${message} a Float32Array`);
  });

  it('requires a finite positive noise_std', () => {
    for (const noise_std of [0, -0.1, Infinity, NaN]) {
      expect(() => validateConfig({ ...CONFIG, noise_std })).toThrow(/'noise_std' must be a finite number > 0/);
    }
    const zero = edited((_, meta) => (meta.config = meta.config.replace('"noise_std": 0.1', '"noise_std": 0')));
    expect(() => loadModel(zero)).toThrow(/checkpoint config is invalid: .*'noise_std' must be a finite number > 0, got 0/);
  });

  it('caps the sizes a config names before allocating anything', () => {
    expect(() => validateConfig({ ...CONFIG, num_blocks: 100_000 })).toThrow("'num_blocks' is 100000, more than the 64 flow blocks supported");
    expect(() => validateConfig({ ...CONFIG, layers_per_block: 65 })).toThrow(/'layers_per_block' is 65, more than the 64 transformer layers per block/);
    expect(() => validateConfig({ ...CONFIG, channels: 2 ** 20, head_dim: 64 })).toThrow(/'channels' is 1048576, more than the 8192 transformer channels/);
    expect(() => validateConfig({ ...CONFIG, img_size: 4096 })).toThrow(/'img_size' is 4096, more than the 1024 pixels/);
    expect(() => validateConfig({ ...CONFIG, img_size: 1024, patch_size: 1 })).toThrow(/1048576 patches per image .* at most 16384/);
    expect(() => validateConfig({ ...CONFIG, channels: 8192, head_dim: 64, num_blocks: 64, layers_per_block: 8 })).toThrow(/parameters, but at most/);
    const huge = edited((_, meta) => (meta.config = meta.config.replace('"num_blocks": 4', '"num_blocks": 1000000')));
    const before = tf.memory().numTensors;
    expect(() => loadModel(huge)).toThrow(/'num_blocks' is 1000000, more than the 64 flow blocks supported/);
    expect(tf.memory().numTensors).toBe(before);
    expect(validateConfig(CONFIG)).toEqual(CONFIG);
  });

  it.each(ENGINES)('a sample that turns non-finite is an error, not images (engine %s)', async (engine) => {
    const model = loadModel(bytes());
    const noise = tf.tidy(() => {
      const n = tf.randomNormal([1, model.tokens, model.patchDim], 0, 1, 'float32', 3);
      return tf.where(tf.equal(tf.range(0, model.patchDim, 1, 'int32'), 2), tf.fill([1, model.tokens, model.patchDim], NaN), n);
    }) as PatchSeq;
    const before = tf.memory().numTensors;
    // Whichever check sees it first (a solver's, or the final read of sampleSteps), no images come back.
    const jacobi = model.blocks.map(() => ({ kind: 'jacobi' as const, modules: 1, maxIterations: 2 }));
    expect(() => model.sample(noise, { engine, divergence: false, strategy: jacobi })).toThrow(/non-finite|not finite/);
    expect(() => model.sample(noise, { engine })).toThrow(/non-finite|not finite/);
    await expect(model.sampleAsync(noise, { engine, divergence: false, strategy: { kind: 'joint', maxIterations: 2 } })).rejects.toThrow(/non-finite|not finite/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(noise);
    model.dispose();
  });
});
