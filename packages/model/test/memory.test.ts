import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '../src/index.js';
import { BACKENDS, expectedTensor, loadFixture, useBackend } from './helpers.js';

describe.each(BACKENDS)('tensor memory on %s', (backend) => {
  let model: TarFlow;
  let x: tf.Tensor4D;
  let noise: tf.Tensor3D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend(backend);
    const f = loadFixture('tiny-cond');
    // A batch of two keeps the cpu run short; the code paths are the same.
    model = loadModel(f.checkpoint);
    x = tf.tidy(() => tf.slice(expectedTensor(f, 'forward.x'), 0, 2)) as tf.Tensor4D;
    noise = tf.tidy(() => tf.slice(expectedTensor(f, 'noise'), 0, 2)) as tf.Tensor3D;
    labels = tf.tidy(() => tf.slice(expectedTensor(f, 'labels'), 0, 2)) as tf.Tensor1D;
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([x, noise, labels]);
  });

  it('repeated forward, sampling (every solver, guided, sync and async) and denoising leave numTensors unchanged', async () => {
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const run = async () => {
      const r = model.forward(x, labels);
      tf.dispose([r.z, r.outputs, r.logdets]);
      tf.dispose(model.imageLoss(x, labels));
      const guidance = { scale: 1, annealed: true, attnTemp: 0.9 };
      await tick();
      const seq = model.sample(noise, { labels, guidance, trace: true });
      await tick();
      tf.dispose([seq.images, seq.trace!]);
      const gs = await model.sampleAsync(noise, {
        labels,
        guidance,
        strategy: [
          { kind: 'jacobi', modules: 4, maxIterations: 3 },
          { kind: 'jacobi', modules: 1, maxIterations: 2, guess: 'zeros' },
          { kind: 'jacobi', modules: 3, maxIterations: 40, tolerance: 1e-3 },
          { kind: 'sequential' },
        ],
      });
      tf.dispose(gs.images);
      // Two joint iterations cover the joint path (stacked evaluation, freezing needs T − 1; the fallback is tested elsewhere).
      const joint = { kind: 'joint' as const, maxIterations: 2, tolerance: 1e-3 };
      tf.dispose(model.sample(noise, { labels, guidance, strategy: joint }).images);
      tf.dispose((await model.sampleAsync(noise, { labels, guidance, strategy: { ...joint, guess: 'zeros' } })).images);
      await tick();
      tf.dispose(model.denoise(x, labels));
    };
    await run(); // warm-up: backends may allocate persistent buffers once
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) await run();
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);

  // The plain engine's repeated runs are the test above; 100 runs here on the fused engine (its caches are buffers written in place).
  it('100 samplings on the fused engine (every solver kind, guided and not) leave numTensors unchanged', async () => {
    const engine = 'fused';
    const strategies = [
      undefined,
      [
        { kind: 'jacobi', modules: 3, maxIterations: 3 },
        { kind: 'jacobi', modules: 1, maxIterations: 2, guess: 'zeros' },
        { kind: 'jacobi', modules: 6, maxIterations: 4, tolerance: 1e-3 },
        { kind: 'sequential' },
      ],
      { kind: 'joint', maxIterations: 3, tolerance: 1e-3 },
    ] as const;
    const once = async (i: number) => {
      const guidance = i % 2 === 0 ? { scale: 1.5, attnTemp: 0.9 } : undefined;
      const r = await model.sampleAsync(noise, { labels, guidance, engine, strategy: strategies[i % 3] as never });
      expect(r.report.engine.name).toBe(engine);
      r.images.dispose();
    };
    await once(0); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await once(i);
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);
});
