/**
 * Converting PyTorch checkpoints into TarFlow files: @tarflow/checkpoint's
 * formats with this package's config inference (tarflowConversion).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCheckpoint, serializeSafetensors } from '@tarflow/checkpoint';
import { convertCheckpoint, readSafetensorsFile } from '@tarflow/checkpoint/node';
import { TarFlow, expectedTensors, inferConfig, loadModel, stateDict, tarflowConversion, type TarFlowConfig } from '../src/index.js';
// The checkpoint package's test builders write PyTorch archives in the reference's layout.
import { ODict, Pickler, TensorPickle, writePth, type PickleValue } from '../../checkpoint/test/builders.js';
import { fixturesDir, useBackend } from './helpers.js';

const MODELS = ['tiny-uncond', 'tiny-cond'] as const;
const fixture = (name: string) => join(fixturesDir(), name);

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'tarflow-convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tarflowConversion: .pth → TarFlow safetensors', () => {
  for (const model of MODELS) {
    it(`${model}.pth → the config and bytes of ${model}.safetensors`, async () => {
      const reference = await readSafetensorsFile(fixture(`${model}.safetensors`));
      const config = JSON.parse(reference.metadata.config);
      const out = join(dir, `${model}.safetensors`);
      // noise_std is a training setting, not in the weights; the fixture's name has no convention to read it from.
      const conversion = tarflowConversion({ noise_std: config.noise_std });
      const result = await convertCheckpoint(fixture(`${model}.pth`), out, conversion);
      const converted = await readSafetensorsFile(out);
      expect(converted.metadata.config).toBe(reference.metadata.config);
      expect(converted.metadata.format).toBe('tarflow');
      expect(result.metadata).toEqual(converted.metadata);
      expect(conversion.inferred().config).toEqual(config);
      expect(conversion.inferred().notes.join('\n')).toMatch(/assumed in_channels/);

      const memory = tarflowConversion({ noise_std: config.noise_std });
      const imported = importCheckpoint(new Uint8Array(await readFile(fixture(`${model}.pth`))), memory);
      expect(Buffer.from(imported.bytes).equals(await readFile(out))).toBe(true);
      expect(memory.inferred().config).toEqual(config);
    });

    it(`${model}: config comes from the reference file-name convention`, async () => {
      const reference = await readSafetensorsFile(fixture(`${model}.safetensors`));
      const config = JSON.parse(reference.metadata.config);
      const named = join(dir, `tiny_model_${config.patch_size}_${config.channels}_${config.num_blocks}_${config.layers_per_block}_${config.noise_std.toFixed(2)}.pth`);
      await copyFile(fixture(`${model}.pth`), named);
      const conversion = tarflowConversion();
      await convertCheckpoint(named, join(dir, `${model}-named.safetensors`), conversion);
      const { config: inferred, sources, notes } = conversion.inferred();
      expect(inferred).toEqual(config);
      expect(sources).toMatchObject({ patch_size: 'filename', noise_std: 'filename', in_channels: 'filename', channels: 'shapes' });
      expect(notes).toEqual([]);
    });
  }

  it('a safetensors export with prefixes and a Lightning-style wrapper gets TarFlow names and an inferred config', async () => {
    const reference = await readSafetensorsFile(fixture('tiny-cond.safetensors'));
    const config = JSON.parse(reference.metadata.config);
    const prefixed = new Map([...reference.tensors].map(([n, t]) => [`module.model.${n}`, t]));
    const input = join(dir, 'exported.safetensors');
    await writeFile(input, serializeSafetensors(prefixed, { format: 'pt' }));
    const out = join(dir, 'exported-out.safetensors');
    const conversion = tarflowConversion({ noise_std: config.noise_std, in_channels: 3 });
    const result = await convertCheckpoint(input, out, conversion);
    expect(result.strippedPrefixes).toEqual(['module.', 'model.']);
    const converted = await readSafetensorsFile(out);
    expect([...converted.tensors.keys()].sort()).toEqual([...reference.tensors.keys()].sort());
    expect(JSON.parse(converted.metadata.config)).toEqual(config);
  });

  it('a TarFlow safetensors input keeps its stored config and recommended sampling settings', async () => {
    const reference = await readSafetensorsFile(fixture('tiny-uncond.safetensors'));
    const sampling = JSON.stringify({ temperature: 0.7 });
    const input = join(dir, 'stored.safetensors');
    await writeFile(input, serializeSafetensors(reference.tensors, { ...reference.metadata, sampling }));
    const conversion = tarflowConversion();
    await convertCheckpoint(input, join(dir, 'again.safetensors'), conversion);
    expect(conversion.inferred().config).toEqual(JSON.parse(reference.metadata.config));
    expect(conversion.inferred().sources.noise_std).toBe('metadata');
    const again = await readSafetensorsFile(join(dir, 'again.safetensors'));
    expect(again.metadata).toEqual({ format: 'tarflow', config: reference.metadata.config, sampling });
  });

  it('a state dict whose shapes contradict an override is refused, and no file is left', async () => {
    const out = join(dir, 'refused.safetensors');
    await expect(convertCheckpoint(fixture('tiny-uncond.pth'), out, tarflowConversion({ channels: 7 }))).rejects.toThrow(/override channels = 7 contradicts the weights/);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('a two-channel, patch-1 .pth converts without flags: 2 = in_channels · patch_size² has one split', async () => {
    const config: TarFlowConfig = {
      in_channels: 2, img_size: 4, patch_size: 1, channels: 64, num_blocks: 2, layers_per_block: 1,
      num_classes: 0, noise_std: 0.05, head_dim: 64, expansion: 2, nvp: true,
    };
    const model = TarFlow.init(config, 3);
    const storages: Record<string, Uint8Array> = {};
    const entries: Array<[PickleValue, PickleValue]> = [];
    const weights = new Map<string, Float32Array>();
    for (const [name, t] of stateDict(model)) {
      const values = t.dataSync() as Float32Array;
      const key = String(entries.length);
      storages[key] = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      entries.push([name, new TensorPickle({ key, dtype: 'F32', numel: values.length }, t.shape)]);
      weights.set(name, values.slice());
    }
    model.dispose();
    const input = join(dir, 'two-channel.pth');
    await writeFile(input, writePth(Pickler.dump({ model: new ODict(entries), epoch: 1 }), storages));
    const out = join(dir, 'two-channel.safetensors');
    const conversion = tarflowConversion(); // no overrides: what `tarflow convert` does without flags
    await convertCheckpoint(input, out, conversion);
    const { config: inferred, notes } = conversion.inferred();
    expect(inferred).toEqual(config);
    expect(notes.join('\n')).toMatch(/in_channels 2, patch_size 1 is the only split of the patch dim 2/);
    const loaded = loadModel(new Uint8Array(await readFile(out)));
    for (const [name, t] of stateDict(loaded)) expect(t.dataSync()).toEqual(weights.get(name));
    loaded.dispose();
  });

  it('a patch dim with several splits and no RGB or grey one asks for a flag, naming the splits', async () => {
    const config = { in_channels: 5, img_size: 4, patch_size: 2, channels: 64, num_blocks: 1, layers_per_block: 1, num_classes: 0, noise_std: 0.05, head_dim: 64, expansion: 2, nvp: true };
    const shapes = new Map(expectedTensors(config).map(([name, shape]) => [name, { shape }]));
    expect(() => inferConfig(shapes)).toThrow(/patch dim 20 splits into in_channels \* patch_size² in several ways \(in_channels 20 with patch_size 1, in_channels 5 with patch_size 2\); pass in_channels or patch_size/);
  });
});

