import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { loadModel } from '@tarflow/model';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import { featureStats, frechetDistance, frechetFromStats, matrix, matrixNorm, meanCov, sampleQuality, symmetricEigen } from '../src/index.js';

describe('linear algebra', () => {
  it('matrix norms match closed forms', () => {
    // [[3, 0], [4, 5]]: singular values √45 and √5.
    const a = matrix(2, 2, [3, 0, 4, 5]);
    expect(matrixNorm(a, '2')).toBeCloseTo(Math.sqrt(45), 10);
    expect(matrixNorm(a, '1')).toBe(7);
    expect(matrixNorm(a, 'fro')).toBeCloseTo(Math.sqrt(50), 12);
    const wide = matrix(1, 3, [1, 2, 2]);
    expect(matrixNorm(wide, '2')).toBeCloseTo(3, 12);
  });

  it('eigenvalues of a symmetric matrix', () => {
    const { values } = symmetricEigen(Float64Array.from([2, 1, 0, 1, 2, 0, 0, 0, 5]), 3);
    expect([...values].sort((x, y) => x - y).map((v) => +v.toFixed(10))).toEqual([1, 3, 5]);
  });

  it('Fréchet distance of 1-D Gaussians has the closed form (μ₁−μ₂)² + (σ₁−σ₂)²', () => {
    const fd = frechetDistance(Float64Array.of(1), Float64Array.of(4), Float64Array.of(3), Float64Array.of(9), 1);
    expect(fd).toBeCloseTo(4 + 1, 10);
    const { mean, cov } = meanCov([1, 2, 3, 4], 4, 1);
    expect(mean[0]).toBe(2.5);
    expect(cov[0]).toBeCloseTo(5 / 3, 12);
  });
});

describe('sample quality (wasm)', () => {
  beforeAll(async () => useBackend('wasm'));

  it('identical samples: zero difference and zero Fréchet distance', () => {
    const x = tf.randomNormal([32, 1, 4, 4], 0, 1, 'float32', 3) as ImageBatch;
    const features = (im: ImageBatch) => tf.reshape(im, [im.shape[0], -1]) as tf.Tensor2D;
    const stats = featureStats(x, features, 10);
    const q = sampleQuality({ samples: x, reference: x, features, realStats: stats });
    expect(q.meanAbsDiff).toBe(0);
    expect(q.maxAbsDiff).toBe(0);
    expect(Math.abs(q.fd!)).toBeLessThan(1e-6);
    const shifted = tf.add(x, 0.5) as ImageBatch;
    expect(frechetFromStats(featureStats(shifted, features), stats)).toBeCloseTo(16 * 0.25, 4);
    tf.dispose([x, shifted]);
  });

  it('the exact sampler pushed back through the flow returns the noise', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const noise = tf.randomNormal([4, model.tokens, model.patchDim], 0, 1, 'float32', 5) as PatchSeq;
    const s = model.sample(noise);
    const q = sampleQuality({ samples: s.images, model, noise });
    expect(q.forwardResidual!.max).toBeLessThan(1e-4);
    const bad = model.sample(noise, { strategy: model.blocks.map(() => ({ kind: 'jacobi', modules: 1, maxIterations: 1 })) });
    expect(sampleQuality({ samples: bad.images, model, noise }).forwardResidual!.mean).toBeGreaterThan(1e-3);
    tf.dispose([noise, s.images, bad.images]);
    model.dispose();
  });
});
