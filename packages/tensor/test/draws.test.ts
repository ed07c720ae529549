import { describe, expect, it } from 'vitest';
import { seededLabels, seededNoise, tf, tfSeed } from '../src/index.js';

describe('tfSeed', () => {
  it('makes seed 0 reproducible (tfjs draws afresh for a raw 0) and keeps other seeds', () => {
    const draw = (seed: number) => tf.tidy(() => Array.from(tf.randomNormal([8], 0, 1, 'float32', seed).dataSync()));
    expect(draw(0)).not.toEqual(draw(0)); // what tfSeed guards against
    expect(draw(tfSeed(0))).toEqual(draw(tfSeed(0)));
    expect(tfSeed(5)).toBe(5);
    expect(draw(tfSeed(0))).not.toEqual(draw(tfSeed(1)));
  });
});

describe('seeded draws of a sampling run', () => {
  it('give any subset of a run exactly the noise and labels the whole run gives those samples', () => {
    const all = seededNoise(5, [0, 1, 2, 3, 4, 5], 7, 3);
    const part = seededNoise(5, [4, 1], 7, 3);
    expect(all.shape).toEqual([6, 7, 3]);
    expect(Array.from(part.slice([0, 0, 0], [1, -1, -1]).dataSync())).toEqual(Array.from(all.slice([4, 0, 0], [1, -1, -1]).dataSync()));
    expect(Array.from(part.slice([1, 0, 0], [1, -1, -1]).dataSync())).toEqual(Array.from(all.slice([1, 0, 0], [1, -1, -1]).dataSync()));
    const other = seededNoise(6, [4], 7, 3);
    expect(Array.from(other.dataSync())).not.toEqual(Array.from(part.slice([0, 0, 0], [1, -1, -1]).dataSync()));
    const labels = seededLabels(5, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 10);
    expect(Array.from(seededLabels(5, [11, 3], 10))).toEqual([labels[11], labels[3]]);
    expect(labels.every((l) => l >= 0 && l < 10 && Number.isInteger(l))).toBe(true);
    expect(new Set(labels).size).toBeGreaterThan(3);
    tf.dispose([all, part, other]);
  });

  it('noise is standard normal and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const n = seededNoise(1, Array.from({ length: 200 }, (_, i) => i), 16, 8);
    expect(tf.memory().numTensors).toBe(before + 1);
    const { mean, variance } = tf.moments(n);
    expect(Math.abs(mean.dataSync()[0])).toBeLessThan(0.03);
    expect(Math.abs(variance.dataSync()[0] - 1)).toBeLessThan(0.05);
    tf.dispose([n, mean, variance]);
    expect(seededNoise(1, [], 16, 8).shape).toEqual([0, 16, 8]);
  });
});
