import { describe, expect, it } from 'vitest';
import { assertFiniteImages, describeIndex, seededLabels, tf, ValueError } from '../src/index.js';

describe('value checks', () => {
  it('accept finite images and name the count and first location of bad values', () => {
    const shape = [2, 1, 2, 3];
    const data = new Float32Array(12).fill(0.5);
    expect(() => assertFiniteImages({ data, shape }, 'images')).not.toThrow();
    data[7] = NaN;
    data[9] = Infinity;
    expect(() => assertFiniteImages({ data, shape }, 'shard a.safetensors')).toThrow(
      new ValueError('shard a.safetensors: 2 non-finite values of 12 (first not a number, at image 1, channel 0, row 0, column 1)'),
    );
  });

  it('check a range, after finiteness', () => {
    const x = tf.tensor4d([0, 1, 255, -1], [1, 1, 2, 2]);
    const before = tf.memory().numTensors;
    expect(() => assertFiniteImages(x, 'calibration', { range: [-1, 1] })).toThrow(
      'calibration: 1 value of 4 outside [-1, 1] (first 255, at image 0, channel 0, row 1, column 0)',
    );
    expect(() => assertFiniteImages(x, 'calibration', { range: [-1, 1], rangeText: 'the data range' })).toThrow(/outside the data range/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('describe indices of any rank', () => {
    expect(describeIndex(5, [2, 3])).toBe('index [1, 2]');
    expect(describeIndex(0, [4])).toBe('index [0]');
  });
});

describe('seededLabels', () => {
  it('needs a class count that is an integer >= 1', () => {
    for (const k of [0, -3, NaN, 2.5]) expect(() => seededLabels(0, [0, 1], k)).toThrow(/number of classes must be an integer >= 1/);
    expect(Array.from(seededLabels(0, [0, 1, 2], 1))).toEqual([0, 0, 0]);
  });
});
