import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '../src/index.js';
import { compare, expectedTensor, loadFixture, useBackend, type Fixture } from './helpers.js';

describe('asynchronous sampling (wasm)', () => {
  let f: Fixture;
  let model: TarFlow;
  let noise: tf.Tensor3D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('wasm');
    f = loadFixture('tiny-cond');
    model = loadModel(f.checkpoint);
    noise = expectedTensor(f, 'noise') as tf.Tensor3D;
    labels = expectedTensor(f, 'labels') as tf.Tensor1D;
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([noise, labels]);
  });

  it('sampleAsync reproduces the reference sequential sample and equals sample() for iterative strategies', async () => {
    const s = f.spec.cases.sequential;
    const guidance = { scale: s.guidance, annealed: s.annealed_guidance, attnTemp: s.attn_temp };
    const before = tf.memory().numTensors;
    const seq = await model.sampleAsync(noise, { labels, guidance });
    expect(compare(f, seq.images, 'sequential.sample').worst).toBeLessThanOrEqual(0);
    const strategy = [
      { kind: 'jacobi' as const, modules: 4, maxIterations: 5, tolerance: 1e-3 },
      { kind: 'jacobi' as const, modules: 1, maxIterations: 6 },
      { kind: 'sequential' as const },
      { kind: 'jacobi' as const, modules: 2, maxIterations: 3, guess: 'zeros' as const },
    ];
    const a = await model.sampleAsync(noise, { labels, guidance, strategy });
    const b = model.sample(noise, { labels, guidance, strategy });
    expect(Array.from(a.images.dataSync())).toEqual(Array.from(b.images.dataSync()));
    expect(a.report.depth).toBe(b.report.depth);
    expect(a.report.blocks.map((r) => r.modules.map((m) => m.residuals))).toEqual(b.report.blocks.map((r) => r.modules.map((m) => m.residuals)));
    tf.dispose([seq.images, a.images, b.images]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects unknown labels asynchronously too, leaking nothing', async () => {
    const bad = tf.tensor1d([0, 1, 7, 2], 'int32');
    const before = tf.memory().numTensors;
    await expect(model.sampleAsync(noise, { labels: bad })).rejects.toThrow(/unknown label 7 \(this model has classes 0…4/);
    expect(() => model.sample(noise, { labels: bad })).toThrow(/unknown label 7/);
    expect(tf.memory().numTensors).toBe(before);
    bad.dispose();
  });
});
