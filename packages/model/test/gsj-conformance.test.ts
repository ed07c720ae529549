import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { REFERENCE_SEMANTICS, type Strategy } from '@tarflow/solvers';
import { loadModel, type TarFlow } from '../src/index.js';
import { BACKENDS, ENGINES, compare, expectedTensor, loadFixture, useBackend, type Fixture } from './helpers.js';

/** The fixture's per-block GS-Jacobi settings as our strategy (sampling order). */
export function fixtureStrategy(c: any, tokens: number): Strategy {
  return c.num_gs.map((g: number, i: number) => {
    if (g === 0 || g === tokens) return { kind: 'sequential' };
    return { kind: 'jacobi', modules: g, maxIterations: c.max_jacobi[i], guess: c.guess[i] === 0 ? 'noise' : 'zeros' };
  });
}

const FIXTURES = ['tiny-uncond', 'tiny-cond'];

describe.each(BACKENDS)('GS-Jacobi reference conformance on %s', (backend) => {
  describe.each(FIXTURES)('%s', (name) => {
    let f: Fixture;
    let model: TarFlow;
    let labels: tf.Tensor1D | undefined;
    let noise: tf.Tensor3D;
    beforeAll(async () => {
      await useBackend(backend);
      f = loadFixture(name);
      model = loadModel(f.checkpoint);
      noise = expectedTensor(f, 'noise') as tf.Tensor3D;
      labels = f.expected.tensors.has('labels') ? (expectedTensor(f, 'labels') as tf.Tensor1D) : undefined;
    });
    afterAll(() => {
      model.dispose();
      tf.dispose([noise, labels ?? []]);
    });

    const cases = loadFixture(name).spec.cases;
    for (const key of Object.keys(cases).filter((k) => k.startsWith('gsj.'))) {
      // sampleAsync: the event loop runs at every residual read, so the long cpu
      // cases do not starve the test runner (and the asynchronous path is covered).
      it.each(ENGINES)(`${key}, engine %s`, async (engine) => {
        const c = cases[key];
        expect(c.ebound).toBe(0);
        expect(c.clamp).toEqual([-3, 3]);
        const s = cases.sequential;
        const r = await model.sampleAsync(noise, {
          engine,
          labels,
          guidance: { scale: s.guidance, on: 'both', annealed: s.annealed_guidance, attnTemp: s.attn_temp },
          strategy: fixtureStrategy(c, model.tokens),
          ...REFERENCE_SEMANTICS,
          divergence: false,
        });
        const { worst, maxErr } = compare(f, r.images, key);
        expect(worst, `max abs error ${maxErr}`).toBeLessThanOrEqual(0);
        expect(r.report.engine.name).toBe(engine);
        tf.dispose(r.images);
      }, 600_000); // the pure-JS cpu backend needs minutes for the converged guided case
    }
  });
});
