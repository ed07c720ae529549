import { describe, expect, it } from 'vitest';
import { ConfigError, configJson, inferConfig, parseConfigFileName, type TarFlowConfig } from '../src/index.js';

/** Tensor shapes of an ml-tarflow TarFlow state dict for a config. */
function shapesFor(c: TarFlowConfig): Map<string, { shape: number[] }> {
  const D = c.in_channels * c.patch_size ** 2;
  const T = (c.img_size / c.patch_size) ** 2;
  const C = c.channels;
  const m = new Map<string, { shape: number[] }>();
  const add = (name: string, shape: number[]): void => void m.set(name, { shape });
  add('var', [T, D]);
  for (let b = 0; b < c.num_blocks; b++) {
    add(`blocks.${b}.pos_embed`, [T, C]);
    if (c.num_classes) add(`blocks.${b}.class_embed`, [c.num_classes, 1, C]);
    add(`blocks.${b}.attn_mask`, [T, T]);
    add(`blocks.${b}.proj_in.weight`, [C, D]);
    add(`blocks.${b}.proj_in.bias`, [C]);
    for (let l = 0; l < c.layers_per_block; l++) {
      const p = `blocks.${b}.attn_blocks.${l}`;
      add(`${p}.attention.qkv.weight`, [3 * C, C]);
      add(`${p}.mlp.main.0.weight`, [c.expansion * C, C]);
      add(`${p}.mlp.main.2.weight`, [C, c.expansion * C]);
    }
    add(`blocks.${b}.proj_out.weight`, [c.nvp ? 2 * D : D, C]);
  }
  return m;
}

const AFHQ: TarFlowConfig = {
  in_channels: 3,
  img_size: 256,
  patch_size: 8,
  channels: 768,
  num_blocks: 8,
  layers_per_block: 8,
  num_classes: 3,
  noise_std: 0.07,
  head_dim: 64,
  expansion: 4,
  nvp: true,
};

function expectError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('parseConfigFileName', () => {
  it('reads the reference naming convention', () => {
    expect(parseConfigFileName('/ckpts/afhq_model_8_768_8_8_0.07.pth')).toEqual({
      dataset: 'afhq',
      patch_size: 8,
      channels: 768,
      num_blocks: 8,
      layers_per_block: 8,
      noise_std: 0.07,
      noise_type: 'gaussian',
    });
    expect(parseConfigFileName('imagenet64_model_4_1024_8_8_uniform.pth')).toMatchObject({ noise_type: 'uniform', patch_size: 4 });
    expect(parseConfigFileName('imagenet_model_2_1024_8_8_0.05.safetensors')).toMatchObject({ channels: 1024, noise_std: 0.05 });
    expect(parseConfigFileName('afhq_opt_8_768_8_8_0.07.pth')).toBeUndefined();
    expect(parseConfigFileName('tiny-cond.pth')).toBeUndefined();
  });
});

describe('inferConfig', () => {
  it('infers every field from shapes plus the file name', () => {
    const { config, sources, notes } = inferConfig(shapesFor(AFHQ), { fileName: 'afhq_model_8_768_8_8_0.07.pth' });
    expect(config).toEqual(AFHQ);
    expect(Object.keys(config)).toEqual(Object.keys(AFHQ));
    expect(sources).toMatchObject({ channels: 'shapes', num_classes: 'shapes', patch_size: 'filename', noise_std: 'filename', head_dim: 'default' });
    expect(notes).toEqual([]);
  });

  it('assumes in_channels 3 when the patch dim allows it, else 1, and says so', () => {
    const rgb = inferConfig(shapesFor(AFHQ));
    expect(rgb.config).toMatchObject({ in_channels: 3, patch_size: 8, img_size: 256, noise_std: 0.05 });
    expect(rgb.notes.join('\n')).toMatch(/assumed in_channels 3, patch_size 8/);
    expect(rgb.notes.join('\n')).toMatch(/noise_std .* assumed 0.05/);
    const gray = inferConfig(shapesFor({ ...AFHQ, in_channels: 1, patch_size: 4, img_size: 28, num_classes: 0, nvp: false }));
    expect(gray.config).toMatchObject({ in_channels: 1, patch_size: 4, img_size: 28, num_classes: 0, nvp: false });
  });

  it('lets overrides resolve what the shapes cannot, and take precedence over the file name', () => {
    // D = 48 fits in_channels 3 x patch 4 (the assumption) or in_channels 12 x patch 2.
    const shapes = shapesFor({ ...AFHQ, in_channels: 3, patch_size: 4, img_size: 64 });
    expect(inferConfig(shapes).config).toMatchObject({ in_channels: 3, patch_size: 4 });
    expect(inferConfig(shapes, { overrides: { in_channels: 12 } }).config).toMatchObject({ in_channels: 12, patch_size: 2, img_size: 32 });
    expect(inferConfig(shapes, { overrides: { img_size: 32 } }).config).toMatchObject({ in_channels: 12, patch_size: 2 });
    const named = inferConfig(shapes, { fileName: 'x_model_4_768_8_8_0.10.pth', overrides: { noise_std: 0.2, head_dim: 128 } });
    expect(named.config).toMatchObject({ noise_std: 0.2, head_dim: 128, patch_size: 4 });
    expect(named.sources).toMatchObject({ noise_std: 'override', head_dim: 'override' });
  });

  it('rejects overrides that contradict the weights', () => {
    const shapes = shapesFor(AFHQ);
    expectError(() => inferConfig(shapes, { overrides: { channels: 512 } }), /override channels = 512 contradicts the weights \(channels = 768\)/);
    expectError(() => inferConfig(shapes, { overrides: { patch_size: 5 } }), /patch_size 5 does not divide the patch dim 192/);
    expectError(() => inferConfig(shapes, { overrides: { in_channels: 3, img_size: 128 } }), /img_size 128 contradicts the weights/);
    expectError(() => inferConfig(shapes, { overrides: { head_dim: 100 } }), /channels 768 is not a multiple of head_dim 100/);
    expectError(() => inferConfig(shapes, { overrides: { channels: -1 } }), /overrides: 'channels' must be an integer >= 1, got -1/);
    expectError(
      () => inferConfig(shapes, { overrides: { colour: 1 } as unknown as Partial<TarFlowConfig> }),
      /overrides: unknown key "colour"/,
    );
  });

  it('notes (and ignores) a file name that disagrees with the weights', () => {
    const { config, notes } = inferConfig(shapesFor(AFHQ), { fileName: 'afhq_model_8_512_8_4_0.07.pth' });
    expect(config).toMatchObject({ channels: 768, layers_per_block: 8, noise_std: 0.07 });
    expect(notes).toEqual([
      'file name says channels = 512 but the weights say 768; using 768',
      'file name says layers_per_block = 4 but the weights say 8; using 8',
    ]);
  });

  it('reports what cannot be determined', () => {
    expectError(() => inferConfig(new Map([['w', { shape: [3] }]])), /cannot determine .*channels.*; pass them as overrides/);
    const full = inferConfig(new Map([['w', { shape: [3] }]]), { overrides: AFHQ });
    expect(full.config).toEqual(AFHQ);
  });

  it('rejects inconsistent state dicts', () => {
    const shapes = shapesFor(AFHQ);
    shapes.delete('blocks.3.pos_embed');
    shapes.delete('blocks.3.attn_mask');
    for (const k of [...shapes.keys()]) if (k.startsWith('blocks.3.')) shapes.delete(k);
    expectError(() => inferConfig(shapes), /flow blocks \(blocks.N\) are not numbered 0..7/);
    const odd = shapesFor(AFHQ);
    odd.set('blocks.0.proj_out.weight', { shape: [100, 768] });
    expectError(() => inferConfig(odd), /proj_out.weight has 100 rows; expected 384 \(nvp\) or 192/);
  });

  it('serializes like Python json.dumps, in the fixtures key order', () => {
    expect(configJson(AFHQ)).toBe(
      '{"in_channels": 3, "img_size": 256, "patch_size": 8, "channels": 768, "num_blocks": 8, "layers_per_block": 8, "num_classes": 3, "noise_std": 0.07, "head_dim": 64, "expansion": 4, "nvp": true}',
    );
  });
});
