import { describe, expect, it } from 'vitest';
import { assertImageBatch, assertLabels, assertPatchSeq, disposeAll, formatShape, maxAbsDiff, ShapeError, shapeMatches, tf } from '../src/index.js';

describe('shape checks', () => {
  it('accept matching shapes and name the expected and actual shape otherwise', () => {
    const x = tf.zeros([2, 16, 4]);
    expect(assertPatchSeq(x, 'noise', null, 16, 4)).toBe(x);
    expect(() => assertPatchSeq(x, 'noise', null, 49, 16)).toThrow(new ShapeError('noise', [null, 49, 16], [2, 16, 4]));
    expect(() => assertPatchSeq(x, 'noise', null, 49, 16)).toThrow('noise: expected shape [?, 49, 16], got [2, 16, 4]');
    expect(() => assertImageBatch(x, 'images')).toThrow('images: expected shape [?, ?, ?, ?], got [2, 16, 4]');
    x.dispose();
  });

  it('labels must be int32 of the right length', () => {
    const l = tf.tensor1d([0, 1], 'int32');
    expect(assertLabels(l, 'labels', 2)).toBe(l);
    expect(() => assertLabels(l, 'labels', 3)).toThrow('labels: expected shape [3], got [2]');
    const f = tf.tensor1d([0, 1]);
    expect(() => assertLabels(f, 'labels')).toThrow('labels: expected int32 labels, got float32');
    tf.dispose([l, f]);
  });

  it('helpers: formatShape, shapeMatches, maxAbsDiff, disposeAll', () => {
    expect(formatShape([null, 3])).toBe('[?, 3]');
    expect(shapeMatches([1, 2], [null, 2])).toBe(true);
    expect(shapeMatches([1, 2], [1])).toBe(false);
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2, 3]);
    const b = tf.tensor([1, 2.5, 3]);
    expect(maxAbsDiff(a, b)).toBeCloseTo(0.5, 6);
    disposeAll({ a, list: [b], n: 3 });
    expect(tf.memory().numTensors).toBe(before);
  });
});
