import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel } from '@tarflow/model';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import {
  findShippedPlan,
  keepPlan,
  lookupPlan,
  memoryPlanStore,
  modelFingerprint,
  planQuery,
  planStrategyCached,
  readShippedPlans,
  withShippedPlan,
  type CostModel,
  type Plan,
} from '../src/index.js';
import { defaultPlanDir, filePlanStore } from '../src/node.js';

const cpuLike = (T: number): CostModel => ({
  backend: 'cpu-like',
  batch: 4,
  guided: false,
  stepMs: 1,
  pass: Array.from({ length: T - 1 }, (_, i) => ({ positions: i + 1, ms: i + 1 })),
});

/** A joint plan with a table guess, as the planner makes them (values are placeholders of the right shape). */
function jointPlan(tokens: number, dim: number, min: number): Plan {
  return {
    objective: 'depth',
    effort: 'thorough',
    strategy: { kind: 'joint', maxIterations: 5, guess: 'table' },
    guessTable: { rows: 1, tokens, dim, data: Array.from({ length: tokens * dim }, (_, i) => i / 100) },
    text: 'joint:5',
    tolerance: null,
    batch: { min },
    blocks: [],
    predicted: { depth: 5, sequentialDepth: 60, meanAbsDiff: 0.001, meanAbsDiffBound: 0.004, maxAbsDiff: 0.1 },
    reasons: [],
    complete: true,
    planningMs: 1,
  };
}

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

  it('a plan serves its own weights, backend, objective and settings, and every batch from its own up', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const store = memoryPlanStore();
    const plan = jointPlan(model.tokens, model.patchDim, 8);
    const query = planQuery(model, { objective: 'depth', batch: 8 });
    keepPlan(store, plan, query);
    const find = (q: Partial<typeof query>) => lookupPlan(store, { ...query, ...q }, model);
    expect(find({}).found?.plan.text).toBe('joint:5');
    expect(find({ batch: 64 }).found?.plan.guessTable?.data).toEqual(plan.guessTable!.data);
    expect(find({ batch: 4 }).found).toBeUndefined();
    expect(find({ backend: 'cpu' }).found).toBeUndefined();
    expect(query.engine).toBe('fused');
    expect(find({ engine: 'plain' }).found).toBeUndefined();
    expect(find({ engine: 'plain' }).ignored.join('\n')).toMatch(/made for the fused engine, this run uses the plain engine/);
    expect(find({ objective: 'time' }).found).toBeUndefined();
    expect(find({ settings: { ...query.settings, temperature: 0.5 } }).found).toBeUndefined();
    const before = modelFingerprint(model);
    const w = model.blocks[0].projOut.bias;
    w.assign(tf.add(w, 1e-3));
    expect(modelFingerprint(model)).not.toBe(before);
    expect(lookupPlan(store, planQuery(model, { objective: 'depth', batch: 8 }), model).found).toBeUndefined();
    model.dispose();
  });

  it('a plan made and timed on the plain engine is kept for it, and not used by a run on the fused engine', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const store = memoryPlanStore();
    const plain = planStrategyCached(model, { objective: 'time', effort: 'quick', batch: 4, engine: 'plain' }, store);
    expect(plain.cached).toBe(false);
    expect(plain.plan.cost?.engine).toBe('plain');
    const [record] = store.get(`plans-${modelFingerprint(model)}`) as Array<{ engine: string }>;
    expect(record.engine).toBe('plain');
    const fused = lookupPlan(store, planQuery(model, { objective: 'time', effort: 'quick', batch: 4 }), model);
    expect(fused.found).toBeUndefined();
    expect(fused.ignored.join('\n')).toMatch(/made for the plain engine, this run uses the fused engine/);
    expect(planStrategyCached(model, { objective: 'time', effort: 'quick', batch: 4, engine: 'plain' }, store).cached).toBe(true);
    model.dispose();
  });

  it('keeps a guess table once, under its hash, however many plans use it', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const store = memoryPlanStore();
    const query = planQuery(model, { objective: 'depth', batch: 8 });
    keepPlan(store, jointPlan(model.tokens, model.patchDim, 8), query);
    keepPlan(store, jointPlan(model.tokens, model.patchDim, 16), query);
    const records = store.get(`plans-${query.model}`) as Array<{ plan: Record<string, unknown> }>;
    expect(records).toHaveLength(2);
    for (const r of records) {
      expect(r.plan).not.toHaveProperty('guessTable');
      expect(r.plan.guessTableHash).toBe(records[0].plan.guessTableHash);
    }
    model.dispose();
  });

  it('a corrupt or unreadable entry is a miss with a note, and the next write replaces it atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plans-'));
    const notes: string[] = [];
    const store = filePlanStore(dir, { onNote: (m) => notes.push(m) });
    expect(store.get('nothing-here')).toBeUndefined();
    expect(notes).toEqual([]);
    writeFileSync(join(dir, 'broken.json'), '{"objective": "ti');
    expect(store.get('broken')).toBeUndefined();
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/broken\.json is corrupt.*ignored/);
    store.set('broken', [1, 2]);
    expect(store.get('broken')).toEqual([1, 2]);
    expect(readdirSync(dir)).toEqual(['broken.json']); // no temporary file left behind
  });

  it('records that do not validate are never used', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const store = memoryPlanStore();
    const query = planQuery(model, { objective: 'depth', batch: 8 });
    keepPlan(store, jointPlan(model.tokens, model.patchDim, 8), query);
    const key = `plans-${query.model}`;
    const records = store.get(key) as Array<{ plan: { strategy: unknown } }>;
    // A per-block strategy for the wrong number of blocks, and a table whose values no longer match its hash.
    store.set(key, [{ ...records[0], plan: { ...records[0].plan, strategy: [{ kind: 'sequential' }] } }]);
    let r = lookupPlan(store, { ...query }, model);
    expect(r.found).toBeUndefined();
    expect(r.broken[0]).toMatch(/plan 0 is unreadable/);
    store.set(key, records);
    const tableKey = `table-${(records[0].plan as unknown as { guessTableHash: string }).guessTableHash}`;
    const table = store.get(tableKey) as { data: number[] };
    store.set(tableKey, { ...table, data: table.data.map((v) => v + 1) });
    r = lookupPlan(store, { ...query }, model);
    expect(r.found).toBeUndefined();
    expect(r.broken[0]).toMatch(/do not match its hash/);
    model.dispose();
  });

  it('the default folder is $XDG_CACHE_HOME/tarflow/plans, else ~/.cache/tarflow/plans', () => {
    expect(defaultPlanDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/tarflow/plans');
    expect(defaultPlanDir({})).toMatch(/\.cache\/tarflow\/plans$/);
  });
});

describe('shipped plans (metadata key plans)', () => {
  beforeAll(async () => useBackend('wasm'));

  it('round-trip through metadata: used where everything matches, ignored with the reason where not', () => {
    const model = loadModel(loadFixture('tiny-uncond').checkpoint);
    const { batch: _b, ...query } = planQuery(model, { objective: 'depth', batch: 8 });
    let meta: Record<string, string> = { format: 'tarflow' };
    meta = withShippedPlan(meta, jointPlan(model.tokens, model.patchDim, 8), query);
    meta = withShippedPlan(meta, jointPlan(model.tokens, model.patchDim, 8), { ...query, backend: 'webgpu' }, 'the depth plan');
    // Replacing a plan keeps one record per backend / objective / settings / batch, and one table.
    meta = withShippedPlan(meta, jointPlan(model.tokens, model.patchDim, 8), query);
    const { shipped } = readShippedPlans(meta);
    expect(shipped.plans).toHaveLength(2);
    expect(Object.keys(shipped.tables)).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(JSON.parse(meta.plans).plans)).every((r: { plan: object }) => !('guessTable' in r.plan))).toBe(true);

    const hit = findShippedPlan(meta, { ...query, batch: 16 }, model);
    expect(hit.found?.plan.text).toBe('joint:5');
    expect(hit.found?.plan.guessTable?.tokens).toBe(model.tokens);
    const other = findShippedPlan(meta, { ...query, batch: 16, model: 'deadbeef' }, model);
    expect(other.found).toBeUndefined();
    expect(other.ignored.join('\n')).toMatch(/made for other weights/);
    const cpu = findShippedPlan(meta, { ...query, batch: 16, backend: 'cpu' }, model);
    expect(cpu.found).toBeUndefined();
    expect(cpu.ignored.join('\n')).toMatch(/made for backend wasm, this is cpu/);
    expect(findShippedPlan({ plans: '{"tab' }, { ...query, batch: 16 }, model).broken[0]).toMatch(/unreadable/);
    model.dispose();
  });
});
