import { describe, expect, it } from 'vitest';
import {
  batches,
  createDataset,
  deriveSeed,
  mulberry32,
  numBatches,
  permutation,
  shuffled,
  splitTrainTest,
  subset,
  type ImageDataset,
} from '../src/index.js';

/** A tiny dataset whose image i is filled with the value i / 100 and labelled i % classes. */
function toy(count: number, classes = 3): ImageDataset {
  const images = new Float32Array(count * 2 * 2);
  for (let i = 0; i < count; i++) images.fill(i / 100, i * 4, (i + 1) * 4);
  return createDataset({
    name: 'toy',
    images,
    labels: Int32Array.from({ length: count }, (_, i) => i % classes),
    channels: 1,
    height: 2,
    width: 2,
    numClasses: classes,
  });
}

const sorted = (a: ArrayLike<number>): number[] => Array.from(a).sort((x, y) => x - y);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('seeded randomness', () => {
  it('mulberry32 gives the same pinned sequence on every machine', () => {
    const rng = mulberry32(42);
    expect([rng(), rng(), rng()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  });

  it('permutation is a deterministic permutation, pinned for a small case', () => {
    expect(Array.from(permutation(10, 7))).toEqual([6, 5, 8, 1, 2, 3, 4, 7, 9, 0]);
    const p = permutation(1000, 123);
    expect(sorted(p)).toEqual(range(1000));
    expect(Array.from(permutation(1000, 123))).toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 124))).not.toEqual(Array.from(p));
  });

  it('deriveSeed mixes its parts', () => {
    expect(deriveSeed(1, 0)).toBe(deriveSeed(1, 0));
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(0, 1));
  });
});

describe('dataset helpers', () => {
  it('createDataset rejects inconsistent arrays and bad labels', () => {
    expect(() => createDataset({ name: 'x', images: new Float32Array(3), labels: new Int32Array(1), channels: 1, height: 2, width: 2, numClasses: 1 })).toThrow(
      /x: images has 3 values/,
    );
    expect(() => createDataset({ name: 'x', images: new Float32Array(4), labels: Int32Array.of(5), channels: 1, height: 2, width: 2, numClasses: 2 })).toThrow(
      /label 5/,
    );
  });

  it('subset copies the chosen images in order', () => {
    const ds = toy(10);
    const s = subset(ds, [7, 2, 7]);
    expect(s.count).toBe(3);
    expect(Array.from(s.labels)).toEqual([1, 2, 1]);
    expect(s.images[0]).toBeCloseTo(0.07);
    expect(s.images[4]).toBeCloseTo(0.02);
    expect(() => subset(ds, [10])).toThrow(RangeError);
  });

  it('shuffled is deterministic by seed and a permutation of the images', () => {
    const ds = toy(50);
    const a = shuffled(ds, 9);
    const b = shuffled(ds, 9);
    const c = shuffled(ds, 10);
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(Array.from(a.images)).not.toEqual(Array.from(c.images));
    const ids = range(50).map((k) => Math.round(a.images[k * 4] * 100));
    expect(sorted(ids)).toEqual(range(50));
    ids.forEach((id, k) => expect(a.labels[k]).toBe(id % 3));
  });

  it('batches cover the dataset once per epoch, reproducibly, with a per-epoch order', () => {
    const ds = toy(23);
    const epoch0 = [...batches(ds, 5, { seed: 1, epoch: 0 })];
    expect(epoch0.map((b) => b.shape[0])).toEqual([5, 5, 5, 5, 3]);
    expect(epoch0[0].shape).toEqual([5, 1, 2, 2]);
    const seen = epoch0.flatMap((b) => Array.from(b.indices));
    expect(sorted(seen)).toEqual(range(23));
    for (const b of epoch0) {
      b.indices.forEach((i, k) => {
        expect(b.labels[k]).toBe(i % 3);
        expect(b.images[k * 4]).toBeCloseTo(i / 100);
      });
    }
    const again = [...batches(ds, 5, { seed: 1, epoch: 0 })].flatMap((b) => Array.from(b.indices));
    const epoch1 = [...batches(ds, 5, { seed: 1, epoch: 1 })].flatMap((b) => Array.from(b.indices));
    expect(again).toEqual(seen);
    expect(epoch1).not.toEqual(seen);
    expect([...batches(ds, 5, { dropLast: true })].map((b) => Array.from(b.indices))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
      [10, 11, 12, 13, 14],
      [15, 16, 17, 18, 19],
    ]);
    expect(numBatches(23, 5, true)).toBe(4);
    expect(() => batches(ds, 0).next()).toThrow(RangeError);
  });

  it('splitTrainTest is disjoint, complete, stratified and deterministic', () => {
    const ds = toy(100, 4);
    const { train, test } = splitTrainTest(ds, 20, 5);
    expect(train.count).toBe(80);
    expect(test.count).toBe(20);
    const idsOf = (d: ImageDataset): number[] => range(d.count).map((k) => Math.round(d.images[k * 4] * 100));
    const trainIds = idsOf(train);
    const testIds = idsOf(test);
    expect(sorted([...trainIds, ...testIds])).toEqual(range(100));
    const perClass = [0, 0, 0, 0];
    for (const l of test.labels) perClass[l]++;
    expect(perClass).toEqual([5, 5, 5, 5]);
    expect(idsOf(splitTrainTest(ds, 20, 5).test)).toEqual(testIds);
    expect(idsOf(splitTrainTest(ds, 20, 6).test)).not.toEqual(testIds);
    expect(test.name).toBe('toy/test');
    expect(() => splitTrainTest(ds, 101, 0)).toThrow(RangeError);
  });
});
