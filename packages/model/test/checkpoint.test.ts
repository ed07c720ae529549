import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32Tensor, parseSafetensors, serializeSafetensors, type RawTensor } from '@tarflow/checkpoint';
import { tf } from '@tarflow/tensor';
import { loadModel, saveModel, TarFlow, configJson } from '../src/index.js';
import { fixturesDir, useBackend } from './helpers.js';

const names = ['tiny-uncond', 'tiny-cond'];

function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixturesDir(), `${name}.safetensors`)));
}

/** Rebuilds a safetensors file after editing its tensor map and/or metadata. */
function edited(bytes: Uint8Array, edit: (t: Map<string, RawTensor>, meta: Record<string, string>) => void): Uint8Array {
  const f = parseSafetensors(bytes);
  const meta = { ...f.metadata };
  edit(f.tensors, meta);
  return serializeSafetensors(f.tensors, meta);
}

describe('model checkpoints', () => {
  beforeAll(async () => useBackend('cpu'));

  it.each(names)('%s: load then save gives the same tensors, bit for bit', (name) => {
    const bytes = fixtureBytes(name);
    const original = parseSafetensors(bytes);
    const model = loadModel(bytes);
    const again = parseSafetensors(saveModel(model));
    model.dispose();
    expect([...again.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    for (const [k, t] of original.tensors) {
      const u = again.tensors.get(k)!;
      expect(u.dtype, k).toBe(t.dtype);
      expect(u.shape, k).toEqual(t.shape);
      expect(Buffer.from(u.data).equals(Buffer.from(t.data)), `${k} bytes`).toBe(true);
    }
    expect(JSON.parse(again.metadata.config)).toEqual(JSON.parse(original.metadata.config));
    expect(again.metadata.config).toBe(original.metadata.config);
  });

  const bytes = () => fixtureBytes('tiny-cond');
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    [
      'missing tensor',
      () => edited(bytes(), (t) => t.delete('blocks.2.attn_blocks.1.mlp.main.0.weight')),
      /missing tensor 'blocks\.2\.attn_blocks\.1\.mlp\.main\.0\.weight'/,
    ],
    [
      'mis-shaped tensor',
      () => edited(bytes(), (t) => t.set('blocks.0.proj_in.weight', f32Tensor([128, 10], new Float32Array(1280)))),
      /tensor 'blocks\.0\.proj_in\.weight' has shape \[128, 10\] but the config needs \[128, 12\]/,
    ],
    [
      'unexpected tensor',
      () => edited(bytes(), (t) => t.set('blocks.9.proj_in.weight', f32Tensor([1], new Float32Array(1)))),
      /unexpected tensor 'blocks\.9\.proj_in\.weight'/,
    ],
    ['config missing', () => edited(bytes(), (_t, m) => delete m.config), /metadata key 'config' is missing/],
    ['config not JSON', () => edited(bytes(), (_t, m) => (m.config = '{"in_channels": 3,')), /'config' is not valid JSON/],
    [
      'config inconsistent',
      () => edited(bytes(), (_t, m) => (m.config = m.config.replace('"patch_size": 2', '"patch_size": 5'))),
      /img_size 12 is not divisible by patch_size 5/,
    ],
    ['header length past the end', () => {
      const b = bytes().slice();
      new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
      return b;
    }, /header/i],
    ['truncated file', () => bytes().slice(0, 5000), /out of range|past the end|truncated|shorter/i],
  ];
  it.each(cases)('rejects a checkpoint with a %s', (_what, make, message) => {
    const before = tf.memory().numTensors;
    expect(() => loadModel(make())).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a freshly initialised model saves and loads', () => {
    const cfg = { in_channels: 1, img_size: 4, patch_size: 2, channels: 64, num_blocks: 2, layers_per_block: 1, num_classes: 3, noise_std: 0.1, head_dim: 32, expansion: 2, nvp: true };
    const m = TarFlow.init(cfg, 3);
    const m2 = loadModel(saveModel(m));
    expect(configJson(m2.config)).toBe(configJson(m.config));
    const a = m.trainableVariables().map((v) => Array.from(v.dataSync()));
    const b = m2.trainableVariables().map((v) => Array.from(v.dataSync()));
    expect(b).toEqual(a);
    m.dispose();
    m2.dispose();
  });
});
