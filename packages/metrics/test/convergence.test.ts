import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { BACKENDS, compare, expectedTensor, loadFixture, useBackend, type Fixture } from '@tarflow/test-fixtures';
import { convergenceMetrics } from '../src/index.js';

describe.each(BACKENDS)('CRM and IGM against the reference on %s', (backend) => {
  describe.each(['tiny-uncond', 'tiny-cond'])('%s', (name) => {
    let f: Fixture;
    let model: TarFlow;
    let x: tf.Tensor4D;
    beforeAll(async () => {
      await useBackend(backend);
      f = loadFixture(name);
      model = loadModel(f.checkpoint);
      x = expectedTensor(f, 'forward.x') as tf.Tensor4D;
    });
    afterAll(() => {
      model.dispose();
      x.dispose();
    });

    it('metrics.crm (all four columns) and metrics.igm, in forward block order', () => {
      const before = tf.memory().numTensors;
      const m = convergenceMetrics(model, x);
      expect(tf.memory().numTensors).toBe(before);
      const crm = tf.tensor2d(m.blocks.map((b) => [...b.crmTerms, b.crm]));
      const igm = tf.tensor2d(m.blocks.map((b) => b.igm));
      const c = compare(f, crm, 'metrics.crm');
      const g = compare(f, igm, 'metrics.igm');
      expect(c.worst, `crm max error ${c.maxErr}`).toBeLessThanOrEqual(0);
      expect(g.worst, `igm max error ${g.maxErr}`).toBeLessThanOrEqual(0);
      expect(m.blocks.reduce((s, b) => s + b.crmShare, 0)).toBeCloseTo(1, 6);
      expect(m.blocks.map((b) => b.samplingIndex)).toEqual([3, 2, 1, 0]);
      tf.dispose([crm, igm]);
    });

    it('offers the 1-norm and Frobenius norm', () => {
      const one = convergenceMetrics(model, x, { norm: '1' });
      const fro = convergenceMetrics(model, x, { norm: 'fro' });
      const two = convergenceMetrics(model, x);
      for (let i = 0; i < two.blocks.length; i++) {
        // ‖A‖₂ ≤ ‖A‖_F always; the norms differ, so the metric really changes with the option.
        expect(two.blocks[i].crmTerms[1]).toBeLessThanOrEqual(fro.blocks[i].crmTerms[1] + 1e-9);
        expect(one.blocks[i].crm).not.toBe(two.blocks[i].crm);
      }
      expect(() => convergenceMetrics(model, x, { norm: 'inf' as never })).toThrow(/unknown matrix norm 'inf'/);
    });
  });
});
