/** The toughest block, the hand strategy around it, and the FD reference at a sample count. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type ImageBatch } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { expectedTensor, loadFixture, useBackend } from '@tarflow/test-fixtures';
import { convergenceMetrics, featureStats, frechetFromStats, frechetReference, handStrategy, toughestBlock, type FeatureFn } from '../src/index.js';

describe('toughestBlock and handStrategy (tiny-uncond, cpu)', () => {
  let model: TarFlow;
  let x: ImageBatch;
  beforeAll(async () => {
    await useBackend('cpu');
    const f = loadFixture('tiny-uncond');
    model = loadModel(f.checkpoint);
    x = expectedTensor(f, 'forward.x') as ImageBatch;
  });
  afterAll(() => {
    model.dispose();
    x.dispose();
  });

  it('is the block with the largest CRM, in both orders, with its share', () => {
    const before = tf.memory().numTensors;
    const t = toughestBlock(model, x);
    expect(tf.memory().numTensors).toBe(before);
    const blocks = convergenceMetrics(model, x).blocks;
    const largest = Math.max(...blocks.map((b) => b.crm));
    const tough = blocks.find((b) => b.samplingIndex === t.samplingIndex)!;
    expect(tough.crm).toBe(largest);
    expect(t.forwardIndex).toBe(tough.forwardIndex);
    expect(t.crmShare).toBe(tough.crmShare);
  });

  it('puts GS-Jacobi with 4 modules on the toughest block and capped plain Jacobi elsewhere', () => {
    const T = model.tokens;
    const s = handStrategy(model, 2, 1e-4);
    expect(s).toHaveLength(model.blocks.length);
    s.forEach((b, i) => {
      expect(b.kind).toBe('jacobi');
      if (b.kind !== 'jacobi') return;
      expect(b.tolerance).toBe(1e-4);
      if (i === 2) expect([b.modules, b.maxIterations]).toEqual([4, Math.ceil((T - 1) / 4)]);
      else expect([b.modules, b.maxIterations]).toEqual([1, Math.min(10, T - 1)]);
    });
  });
});

describe('frechetReference', () => {
  it('is the statistics of all images and the FD of the first `count` against them', () => {
    const images = tf.randomNormal([40, 1, 4, 4], 0, 1, 'float32', 5) as ImageBatch;
    const features: FeatureFn = (x) => tf.tidy(() => tf.reshape(x, [x.shape[0], -1]).slice([0, 0], [-1, 3]) as tf.Tensor2D);
    const before = tf.memory().numTensors;
    const all = frechetReference(images, features, 40);
    // All images against themselves: no distance (up to float rounding).
    expect(Math.abs(all.floor)).toBeLessThan(1e-3);
    const few = frechetReference(images, features, 8);
    expect(few.floor).toBeGreaterThan(all.floor);
    expect(few.real).toEqual(all.real);
    const first = tf.slice(images, 0, 8) as ImageBatch;
    expect(frechetFromStats(featureStats(first, features), all.real)).toBeCloseTo(few.floor, 9);
    first.dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});
