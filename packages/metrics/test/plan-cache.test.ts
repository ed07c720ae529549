import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel } from '@tarflow/model';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import { memoryPlanStore, modelFingerprint, planKey, planStrategyCached, type CostModel } from '../src/index.js';
import { filePlanStore } from '../src/node.js';

const cpuLike = (T: number): CostModel => ({
  backend: 'cpu-like',
  batch: 4,
  guided: false,
  stepMs: 1,
  pass: Array.from({ length: T - 1 }, (_, i) => ({ positions: i + 1, ms: i + 1 })),
});

describe('plan cache', () => {
  beforeAll(async () => useBackend('wasm'));

  it('answers a repeated request from the store, in memory and in files', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const options = { objective: 'time' as const, batch: 4, cost: cpuLike(model.tokens) };
    for (const store of [memoryPlanStore(), filePlanStore(mkdtempSync(join(tmpdir(), 'plans-')))]) {
      const a = planStrategyCached(model, options, store);
      const b = planStrategyCached(model, options, store);
      expect(a.cached).toBe(false);
      expect(b.cached).toBe(true);
      expect(b.plan.text).toBe(a.plan.text);
    }
    model.dispose();
  });

  it('keys change with the weights, the batch and the objective', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const base = planKey(model, { objective: 'time', batch: 4 });
    expect(planKey(model, { objective: 'time', batch: 8 })).not.toBe(base);
    expect(planKey(model, { objective: 'depth', batch: 4 })).not.toBe(base);
    const before = modelFingerprint(model);
    const w = model.blocks[0].projOut.bias;
    w.assign(tf.add(w, 1e-3));
    expect(modelFingerprint(model)).not.toBe(before);
    expect(planKey(model, { objective: 'time', batch: 4 })).not.toBe(base);
    model.dispose();
  });

  it('a corrupt cache file counts as a miss', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plans-'));
    const store = filePlanStore(dir);
    expect(store.get('nothing-here')).toBeUndefined();
    writeFileSync(join(dir, 'broken.json'), '{"objective": "ti');
    expect(store.get('broken')).toBeUndefined();
    expect(readdirSync(dir)).toEqual(['broken.json']);
  });
});
