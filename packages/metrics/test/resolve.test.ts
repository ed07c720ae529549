import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import { keepPlan, memoryPlanStore, modelFingerprint, planQuery, resolveStrategy, StrategyRequestError, withShippedPlan, type Plan } from '../src/index.js';

/** A per-block plan as kept: Jacobi with `iterations` iterations on every block. */
function jacobiPlan(blocks: number, iterations = 3): Plan {
  const strategy = Array.from({ length: blocks }, () => ({ kind: 'jacobi' as const, modules: 1, maxIterations: iterations, tolerance: 0.01 }));
  return {
    objective: 'time', effort: 'thorough', strategy, text: JSON.stringify(strategy), tolerance: 0.01, batch: { min: 4 }, blocks: [],
    predicted: { depth: 3 * blocks, sequentialDepth: 60, meanAbsDiff: 0.001, meanAbsDiffBound: 0.004, maxAbsDiff: 0.1 },
    reasons: [], complete: true, planningMs: 1,
  };
}

describe('resolveStrategy', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('wasm');
    model = loadModel(loadFixture('tiny-uncond').checkpoint);
  });
  afterAll(() => model.dispose());

  it('named solvers and strategy text, with tolerance and guess overrides', () => {
    const n = model.blocks.length;
    expect(resolveStrategy(model, { solver: 'sequential' }).strategy).toEqual(Array.from({ length: n }, () => ({ kind: 'sequential' })));
    const gs = resolveStrategy(model, { solver: 'gs-jacobi', modules: 2, tolerance: 0.5, guess: 'zeros' });
    expect(gs.source).toBe('given');
    expect((gs.strategy as Array<{ modules: number; tolerance: number; guess: string }>).every((b) => b.modules === 2 && b.tolerance === 0.5 && b.guess === 'zeros')).toBe(true);
    expect(resolveStrategy(model, { strategy: 'joint:4' }).strategy).toMatchObject({ kind: 'joint', maxIterations: 4 });
  });

  it('requests that cannot work name the option at fault', () => {
    const fails = (req: Parameters<typeof resolveStrategy>[1], option: string, message: RegExp) => {
      let caught: unknown;
      try {
        resolveStrategy(model, req, { batch: 2 });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(StrategyRequestError);
      expect((caught as StrategyRequestError).option).toBe(option);
      expect((caught as Error).message).toMatch(message);
    };
    fails({ solver: 'sequential', modules: 2 }, 'modules', /^modules applies to solver jacobi or gs-jacobi, not sequential/);
    fails({ solver: 'jacobi', guess: 'table' }, 'guess', /^guess table applies to the joint solve only/);
    fails({ strategy: '[0-4-8]' }, 'strategy', /^strategy: /);
    expect(() => resolveStrategy(model, { solver: 'auto' })).toThrow(/needs the batch/);
  });

  it('auto: a shipped plan where it matches, else a kept one; never one for other weights', () => {
    const before = tf.memory().numTensors;
    const options = { objective: 'time' as const, batch: 4 };
    const { batch: _b, ...query } = planQuery(model, options, modelFingerprint(model));
    const shipped = withShippedPlan({}, jacobiPlan(model.blocks.length), query);
    const r = resolveStrategy(model, { solver: 'auto' }, { batch: 8, metadata: shipped });
    expect(r.source).toBe('shipped');
    expect(r.strategy).toEqual(jacobiPlan(model.blocks.length).strategy);

    const foreign = withShippedPlan({}, jacobiPlan(model.blocks.length), { ...query, model: 'deadbeef' });
    const store = memoryPlanStore();
    keepPlan(store, jacobiPlan(model.blocks.length, 2), query);
    const k = resolveStrategy(model, { solver: 'auto' }, { batch: 8, metadata: foreign, store });
    expect(k.source).toBe('kept');
    expect(k.strategy).toEqual(jacobiPlan(model.blocks.length, 2).strategy);
    expect(k.notes.join('\n')).toMatch(/made for other weights.*not used/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('auto: a shipped plan for the plain engine is not used by a run on the fused engine, and is by a plain run', () => {
    const { batch: _b, ...query } = planQuery(model, { objective: 'time', batch: 4, engine: 'plain' }, modelFingerprint(model));
    expect(query.engine).toBe('plain');
    const shipped = withShippedPlan({}, jacobiPlan(model.blocks.length), query);
    const store = memoryPlanStore();
    keepPlan(store, jacobiPlan(model.blocks.length, 2), { ...query, engine: 'fused' });
    const fused = resolveStrategy(model, { solver: 'auto' }, { batch: 8, metadata: shipped, store });
    expect(fused.source).toBe('kept');
    expect(fused.strategy).toEqual(jacobiPlan(model.blocks.length, 2).strategy);
    expect(fused.notes.join('\n')).toMatch(/made for the plain engine, this run uses the fused engine: not used/);
    const plain = resolveStrategy(model, { solver: 'auto' }, { batch: 8, metadata: shipped, store, engine: 'plain' });
    expect(plain.source).toBe('shipped');
    expect(plain.strategy).toEqual(jacobiPlan(model.blocks.length).strategy);
  });
});
