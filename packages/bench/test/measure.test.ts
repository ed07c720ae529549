/** The one median, and the tfjs byte watch. */
import { describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { median, passCost, watchTensorBytes } from '../src/index.js';

describe('median', () => {
  it('is the middle value of an odd count and the mean of the middle two of an even count', () => {
    expect(median([3])).toBe(3);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 10, 1, 1000])).toBe(10);
  });

  it('is NaN for no values and leaves its input unsorted', () => {
    expect(median([])).toBeNaN();
    const xs = [5, 1, 4];
    median(xs);
    expect(xs).toEqual([5, 1, 4]);
  });
});

describe('passCost', () => {
  it('is one dependent evaluation in sequential steps', () => {
    // 60 sequential steps in 120 ms (2 ms a step); 12 passes in 240 ms (20 ms a pass) → 10 steps a pass.
    expect(passCost(240, 12, 120, 60)).toBeCloseTo(10, 12);
    expect(passCost(120, 60, 120, 60)).toBe(1);
  });
});

describe('watchTensorBytes', () => {
  it('follows the high-water mark of tensor bytes, and stops cleanly', async () => {
    await tf.setBackend('cpu');
    const watch = watchTensorBytes();
    const before = tf.memory().numBytes;
    const t = tf.zeros([1000]);
    expect(tf.memory().numBytes).toBe(before + 4000);
    t.dispose();
    expect(tf.memory().numBytes).toBe(before);
    expect(watch.peak()).toBeGreaterThanOrEqual(before + 4000);
    watch.reset();
    expect(watch.peak()).toBe(before);
    watch.stop();
    const u = tf.ones([10]);
    expect(tf.memory().numBytes).toBe(before + 40);
    u.dispose();
    expect(watch.peak()).toBe(before);
    expect(tf.memory().numBytes).toBe(before);
  });
});
