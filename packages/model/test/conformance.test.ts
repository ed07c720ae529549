import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '../src/index.js';
import { BACKENDS, ENGINES, compare, expectedTensor, loadFixture, useBackend, type Fixture } from './helpers.js';

const FIXTURES = ['tiny-uncond', 'tiny-cond'];

describe.each(BACKENDS)('reference conformance on %s', (backend) => {
  describe.each(FIXTURES)('%s', (name) => {
    let f: Fixture;
    let model: TarFlow;
    let x: tf.Tensor4D;
    let labels: tf.Tensor1D | undefined;
    let noise: tf.Tensor3D;

    beforeAll(async () => {
      await useBackend(backend);
      f = loadFixture(name);
      model = loadModel(f.checkpoint);
      x = expectedTensor(f, 'forward.x') as tf.Tensor4D;
      noise = expectedTensor(f, 'noise') as tf.Tensor3D;
      labels = f.expected.tensors.has('labels') ? (expectedTensor(f, 'labels') as tf.Tensor1D) : undefined;
    });
    afterAll(() => {
      model.dispose();
      tf.dispose([x, noise, labels ?? []]);
    });

    it('forward: latent, per-block outputs, log-determinants and loss', () => {
      const r = model.forward(x, labels);
      expect(compare(f, r.z, 'forward.z').worst).toBeLessThanOrEqual(0);
      r.outputs.forEach((o, i) => expect(compare(f, o, `forward.block${i}`).worst).toBeLessThanOrEqual(0));
      expect(compare(f, r.logdets, 'forward.logdets').worst).toBeLessThanOrEqual(0);
      const loss = model.loss(r.z, r.logdets);
      expect(compare(f, loss, 'forward.loss').worst).toBeLessThanOrEqual(0);
      tf.dispose([r.z, r.outputs, r.logdets, loss]);
    });

    // sampleAsync lets the test runner breathe during the long pure-JS cpu runs (sample() is the same steps, see async.test.ts).
    it.each(ENGINES)('sequential sample and trace (with the fixture guidance settings), engine %s', async (engine) => {
      const s = f.spec.cases.sequential;
      const r = await model.sampleAsync(noise, {
        engine,
        labels,
        guidance: {
          scale: s.guidance,
          on: s.guide === 'alpha and gamma' ? 'both' : s.guide === 'alpha' ? 'alpha' : 'gamma',
          annealed: s.annealed_guidance,
          attnTemp: s.attn_temp,
        },
        trace: true,
      });
      expect(compare(f, r.images, 'sequential.sample').worst).toBeLessThanOrEqual(0);
      expect(r.trace!.length).toBe(model.blocks.length + 1);
      r.trace!.forEach((t, i) => expect(compare(f, t, `sequential.trace${i}`).worst).toBeLessThanOrEqual(0));
      expect(r.report.depth).toBe(model.blocks.length * (model.tokens - 1));
      expect(r.report.engine.name).toBe(engine);
      tf.dispose([r.images, r.trace!]);
    });

    it('denoised: one score-based step on the sequential sample', () => {
      const sample = expectedTensor(f, 'sequential.sample') as tf.Tensor4D;
      const lr = f.spec.cases.denoised.lr;
      const d = model.denoise(sample, labels);
      expect(model.config.noise_std ** 2 * sample.size).toBeCloseTo(lr, 6);
      expect(compare(f, d, 'denoised.sample').worst).toBeLessThanOrEqual(0);
      tf.dispose([sample, d]);
    });
  });
});
