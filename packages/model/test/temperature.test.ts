import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { TarFlow } from '../src/index.js';
import { useBackend } from './helpers.js';

describe('sampling temperature', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('cpu');
    model = TarFlow.init({ in_channels: 1, img_size: 8, patch_size: 2, channels: 16, num_blocks: 2, layers_per_block: 1, num_classes: 3, noise_std: 0.1, head_dim: 8, expansion: 2, nvp: true }, 3);
  });
  afterAll(() => model.dispose());

  it('scales the noise: temperature t on z equals temperature 1 on t·z; 1 is the default; bad values are refused', () => {
    const noise = tf.randomNormal([3, model.tokens, model.patchDim], 0, 1, 'float32', 5) as tf.Tensor3D;
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    const before = tf.memory().numTensors;
    const cool = model.sample(noise, { labels, temperature: 0.7 });
    const scaled = tf.mul(noise, 0.7) as tf.Tensor3D;
    const same = model.sample(scaled, { labels });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(cool.images, same.images))).dataSync()[0]);
    expect(diff).toBeLessThan(1e-5);
    const one = model.sample(noise, { labels, temperature: 1 });
    const dflt = model.sample(noise, { labels });
    expect(Array.from(one.images.dataSync())).toEqual(Array.from(dflt.images.dataSync()));
    // cooler samples differ from the model's own
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(cool.images, dflt.images))).dataSync()[0])).toBeGreaterThan(1e-3);
    for (const bad of [0, -1, Number.NaN, Infinity]) {
      expect(() => model.sample(noise, { labels, temperature: bad })).toThrow(/temperature must be a positive number/);
    }
    tf.dispose([cool.images, same.images, one.images, dflt.images, scaled]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([noise, labels]);
  });
});
