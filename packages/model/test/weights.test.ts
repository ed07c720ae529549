/**
 * The sampling maps evaluate a block through cached views of its weights;
 * reassigning a weight (what a training step does) must reach them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import { disposeParams } from '@tarflow/solvers';
import { TarFlow } from '../src/index.js';
import { useBackend } from './helpers.js';

describe('sampling maps after the weights change', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('cpu');
    model = TarFlow.init({ in_channels: 1, img_size: 8, patch_size: 2, channels: 16, num_blocks: 2, layers_per_block: 1, num_classes: 3, noise_std: 0.1, head_dim: 8, expansion: 2, nvp: true }, 4);
  });
  afterAll(() => model.dispose());

  it('a block map uses the current weights after a reassignment, and memory stays flat', () => {
    const T = model.tokens;
    const x = tf.randomNormal([2, T, model.patchDim], 0, 1, 'float32', 6) as PatchSeq;
    const labels = tf.tensor1d([0, 2], 'int32');
    const block = model.blocks[1]; // a flipped block: its cached position embedding is reversed
    const evaluate = () => {
      const map = model.blockMap(1, { labels });
      const empty = map.emptyCache(2);
      const head = tf.slice(x, [0, 0, 0], [-1, T - 1, -1]) as PatchSeq;
      const r = map.evaluate(head, 0, empty);
      map.disposeCache(r.cache);
      head.dispose();
      return r.params;
    };
    // The uncached path: row t of the shifted parameters is what row t − 1 of the map produces.
    const uncached = () =>
      tf.tidy(() => {
        const s = model.shiftedParams(1, x, labels);
        return tf.slice(s.shift, [0, 1, 0], [-1, T - 1, -1]);
      });
    const first = evaluate(); // fills nothing new: the cache is made with the model
    const before = tf.memory().numTensors;
    // What a training step does: new values for some weights (proj_out starts at zero).
    for (const v of [block.projOut.weight, block.posEmbed, block.layers[0].qkv.weight]) {
      const value = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', 7)));
      v.assign(value);
      value.dispose();
    }
    const second = evaluate();
    const want = uncached();
    expect(maxAbsDiff(second.shift, want)).toBeLessThan(1e-5);
    expect(maxAbsDiff(second.shift, first.shift)).toBeGreaterThan(1e-3);
    disposeParams(second);
    want.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeParams(first);
    tf.dispose([x, labels]);
  });
});
