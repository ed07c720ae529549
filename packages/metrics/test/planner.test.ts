import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import { isSequentialStrategy, moduleBounds, type Strategy } from '@tarflow/solvers';
import { calibrateCost, planStrategy, sampleQuality, type CostModel, type Plan } from '../src/index.js';
import { calibrate } from '../src/planner/calibration.js';
import { confirmPlan, type TimeRun } from '../src/planner/confirm.js';
import { planContext } from '../src/planner/context.js';
import { jointQuality, sampleBatches } from '../src/planner/joint.js';

/** Synthetic cost models: a GPU-like one (a pass costs about one step) and a CPU-like one (a pass costs n steps). */
function costModel(kind: 'gpu' | 'cpu', tokens: number): CostModel {
  const sizes = Array.from({ length: tokens - 1 }, (_, i) => i + 1);
  return {
    backend: kind,
    batch: 8,
    guided: false,
    stepMs: 1,
    pass: sizes.map((n) => ({ positions: n, ms: kind === 'gpu' ? 1 + n * 0.01 : n })),
    // A stacked pass over every block: about one pass on a GPU, the blocks' sum on a CPU.
    jointPassMs: kind === 'gpu' ? 1.5 : 4 * (tokens - 1),
  };
}

describe('strategy planner (wasm)', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('wasm');
    model = loadModel(loadFixture('tiny-uncond').checkpoint);
  });
  afterAll(() => model.dispose());
  // Plans are synchronous: let the test worker's event loop run between tests.
  beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
  // Small calibration batches keep each (synchronous) plan short.
  const options = { objective: 'depth' as const, batch: 8, calibration: 8, seed: 1, tolerances: [0.3, 0.03] };
  let perBlock: Plan;

  /** A plan's strategy on 16 samples it never saw, against the sequential sampler. */
  function onFreshBatch(plan: Plan): { meanAbsDiff: number; depth: number; sequentialDepth: number; unconverged: number } {
    const noise = tf.randomNormal([16, model.tokens, model.patchDim], 0, 1, 'float32', 99) as PatchSeq;
    const exact = model.sample(noise);
    const fast = model.sample(noise, { strategy: plan.strategy, guessTable: plan.guessTable });
    const q = sampleQuality({ samples: fast.images, reference: exact.images });
    tf.dispose([noise, exact.images, fast.images]);
    return { meanAbsDiff: q.meanAbsDiff!, depth: fast.report.depth, sequentialDepth: exact.report.depth, unconverged: fast.report.unconverged.length };
  }

  it('objective depth: far less depth than sequential, and parity on a batch it never saw', () => {
    const before = tf.memory().numTensors;
    const plan = planStrategy(model, { ...options, joint: false });
    perBlock = plan;
    expect(tf.memory().numTensors).toBe(before);
    expect(plan.predicted.depth).toBeLessThan(plan.predicted.sequentialDepth);
    // The calibration mean plus two prediction errors for a batch of 8 is within the target.
    expect(plan.predicted.meanAbsDiff).toBeLessThan(plan.predicted.meanAbsDiffBound);
    expect(plan.predicted.meanAbsDiffBound).toBeLessThanOrEqual(0.01);
    expect(plan.blocks).toHaveLength(4);
    for (const b of plan.blocks) expect(b.reason).toMatch(/CRM share/);
    // Every Jacobi block stops on its residual: its budget is the exact bound, not a count measured on the calibration batch.
    for (const s of plan.strategy as Strategy) {
      if (s.kind === 'jacobi') expect(s.maxIterations).toBe(Math.max(...moduleBounds(model.tokens, s.modules).map(([a, b]) => b - a + 1)));
    }
    // A fresh batch: the plan should generalise, every module having settled to its tolerance.
    const fresh = onFreshBatch(plan);
    expect(fresh.meanAbsDiff).toBeLessThanOrEqual(0.01);
    expect(fresh.unconverged).toBe(0);
    expect(fresh.depth).toBeLessThan(fresh.sequentialDepth);
  });

  it('times the backend: a step, a pass per size and a stacked pass, memoised, leaving no tensors behind', () => {
    const before = tf.memory().numTensors;
    const cost = calibrateCost(model, { batch: 3, sizes: [1, 4, model.tokens - 1], repeats: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(cost).toMatchObject({ backend: 'wasm', batch: 3, guided: false });
    expect(cost.pass.map((p) => p.positions)).toEqual([1, 4, model.tokens - 1]);
    for (const ms of [cost.stepMs, cost.jointPassMs, ...cost.pass.map((p) => p.ms)]) expect(ms).toBeGreaterThan(0);
    expect(calibrateCost(model, { batch: 3, sizes: [1, 4, model.tokens - 1], repeats: 1 })).toBe(cost);
    // The engine is part of what was timed: the plain engine is timed on its own.
    expect(cost.engine).toBe('fused');
    const plain = calibrateCost(model, { batch: 3, sizes: [1, 4, model.tokens - 1], repeats: 1, engine: 'plain' });
    expect(plain).not.toBe(cost);
    expect(plain.engine).toBe('plain');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('objective time follows the backend: Jacobi where a pass is cheap, sequential where it costs n steps', () => {
    const gpu = planStrategy(model, { objective: 'time', batch: 4, cost: costModel('gpu', model.tokens), calibration: 8, tolerances: [0.03, 0.003], trim: false, joint: false });
    // Jacobi wherever it needs fewer iterations than the T − 1 steps of the loop.
    expect(Array.isArray(gpu.strategy) && gpu.strategy.some((s) => s.kind === 'jacobi')).toBe(true);
    expect(gpu.predicted.ms!).toBeLessThan(gpu.predicted.sequentialMs!);
    // Where a stacked pass over every block costs about one pass, the joint solve is fastest.
    const gpuJoint = planStrategy(model, { objective: 'time', batch: 4, cost: costModel('gpu', model.tokens), calibration: 8, tolerances: [0.03, 0.003], trim: false });
    expect(gpuJoint.strategy).toMatchObject({ kind: 'joint' });
    expect(gpuJoint.predicted.ms!).toBeLessThan(gpu.predicted.ms!);
    const cpu = planStrategy(model, { objective: 'time', batch: 4, cost: costModel('cpu', model.tokens) });
    expect(Array.isArray(cpu.strategy) && cpu.strategy.every((s) => s.kind === 'sequential')).toBe(true);
    expect(cpu.predicted.ms!).toBeLessThanOrEqual(cpu.predicted.sequentialMs!);
    // Decided from the cost model alone: no calibration sampling was needed.
    expect(cpu.metrics).toBeUndefined();
    expect(cpu.blocks[0].reason).toMatch(/sequential is fastest/);
  });

  it('considers the joint solve of all blocks and keeps it where it needs less depth, at parity on a fresh batch', () => {
    const before = tf.memory().numTensors;
    // Untrimmed per-block candidates keep this (synchronous) plan short; the joint solve must still beat the trimmed plan.
    const plan = planStrategy(model, { ...options, trim: false });
    expect(tf.memory().numTensors).toBe(before);
    // On this model the joint solve needs about half the per-block plan's depth.
    expect(plan.predicted.depth).toBeLessThan(perBlock.predicted.depth);
    // The calibration mean plus two prediction errors for a batch of 8 is within the target.
    expect(plan.predicted.meanAbsDiff).toBeLessThan(plan.predicted.meanAbsDiffBound);
    expect(plan.predicted.meanAbsDiffBound).toBeLessThanOrEqual(0.01);
    // Stopped by its residual, not by a count: at most the exact bound, blocks × (T − 1).
    expect(plan.strategy).toMatchObject({ kind: 'joint', maxIterations: 4 * (model.tokens - 1), tolerance: plan.tolerance });
    expect(plan.tolerance).toBeGreaterThan(0);
    expect(plan.text).toMatch(/^joint:\d+ \(tol /);
    // A table guess's values travel beside the strategy, not inside it.
    expect(plan.strategy).not.toHaveProperty('table');
    if ((plan.strategy as { guess?: string }).guess === 'table') expect(plan.guessTable?.tokens).toBe(model.tokens);
    for (const b of plan.blocks) expect(b.reason).toMatch(/joint solve of all blocks/);
    const fresh = onFreshBatch(plan);
    expect(fresh.meanAbsDiff).toBeLessThanOrEqual(0.01);
    // The fresh batch iterated until it settled (its own count), never up to the exact bound.
    expect(fresh.unconverged).toBe(0);
    expect(fresh.depth).toBeLessThan(fresh.sequentialDepth);
  });

  it('judges every trial on the calibration samples in batches of the plan\'s size, as the plan will run', () => {
    const before = tf.memory().numTensors;
    const calib = calibrate(planContext(model, { objective: 'depth', batch: 4, calibration: 10, seed: 1 }));
    expect(calib.batches.map((b) => b.noise.shape[0])).toEqual([4, 4, 2]);
    const e = calib.evaluate({ kind: 'joint', maxIterations: 4 * (model.tokens - 1), tolerance: 0.05 });
    // One solve per batch, each stopped on its own residual.
    expect(e.reports).toHaveLength(3);
    for (const blocks of e.reports) expect(blocks).toHaveLength(4);
    calib.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an optional pixel bound makes plans stricter', () => {
    expect(perBlock.predicted.maxAbsDiff).toBeGreaterThan(0.01);
    const strict = planStrategy(model, { ...options, joint: false, trim: false, targetMaxAbsDiff: 0.01 });
    expect(strict.predicted.maxAbsDiff).toBeLessThanOrEqual(0.01);
    expect(strict.predicted.depth).toBeGreaterThan(perBlock.predicted.depth);
  });

  it('objective time with a job too small to pay for planning: sequential, with the reason, and not worth keeping', () => {
    // A GPU-like backend where Jacobi would win, but one sample cannot repay a calibration pass.
    const plan = planStrategy(model, { objective: 'time', batch: 4, samples: 1, cost: costModel('gpu', model.tokens) });
    expect(Array.isArray(plan.strategy) && plan.strategy.every((s) => s.kind === 'sequential')).toBe(true);
    expect(plan.complete).toBe(false);
    expect(plan.metrics).toBeUndefined();
    expect(plan.reasons[0]).toMatch(/would cost more than any plan can save on this job/);
    expect(plan.reasons.join('\n')).toMatch(/for a job of 1 sample/);
  });

  it('quick effort: times the backend in five evaluations and stays tidy', () => {
    const before = tf.memory().numTensors;
    const plan = planStrategy(model, { objective: 'time', effort: 'quick', batch: 4, samples: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(plan.effort).toBe('quick');
    expect(plan.cost?.jointEstimated).toBe(true);
    expect(plan.cost?.pass.map((p) => p.positions)).toEqual([1, Math.ceil((model.tokens - 1) / 8)]);
    expect(plan.planningMs).toBeGreaterThan(0);
    expect(plan.reasons.at(-1)).toMatch(/planning took .* for a job of 4 samples/);
    // Whatever it chose, the bound it was accepted on is within the target.
    expect(plan.predicted.meanAbsDiffBound).toBeLessThanOrEqual(0.01);
  });

  it('rejects an unknown objective', () => {
    expect(() => planStrategy(model, { objective: 'speed' as never })).toThrow(/unknown planner objective 'speed'/);
  });

  it('rejects a confirmation that is not a whole number of rounds', () => {
    for (const confirm of [-1, 1.5, NaN]) expect(() => planStrategy(model, { objective: 'time', confirm })).toThrow(/confirm must be a whole number of rounds/);
  });

  it('confirms a time plan end to end against the sequential sampler, interleaved, and keeps it only where it wins', () => {
    const before = tf.memory().numTensors;
    const cost = costModel('gpu', model.tokens);
    // A Jacobi plan made for a GPU-like cost model: a cost model given by the caller may describe another machine, so no timing here confirms it.
    const planned = planStrategy(model, { objective: 'time', batch: 4, cost, calibration: 8, tolerances: [0.03], trim: false, joint: false });
    expect(isSequentialStrategy(planned.strategy)).toBe(false);
    expect(planned.measured).toBeUndefined();
    // The same plan confirmed on this backend, with a clock the test controls: ABBA rounds, medians compared.
    const ctx = planContext(model, { objective: 'time', batch: 4, calibration: 4, seed: 1 });
    expect(ctx.confirmRounds).toBe(3);
    const calib = calibrate(ctx);
    const clock = (ms: { sequential: number[]; plan: number[] }, order: string[]) => (strategy: Parameters<TimeRun>[0]) => {
      const which = isSequentialStrategy(strategy) ? 'sequential' : 'plan';
      order.push(which);
      return ms[which].shift()!;
    };
    const order: string[] = [];
    const kept = confirmPlan(ctx, calib, planned, cost, clock({ sequential: [10, 30, 11], plan: [4, 40, 5] }, order));
    expect(order).toEqual(['sequential', 'plan', 'plan', 'sequential', 'sequential', 'plan']);
    expect(kept.text).toBe(planned.text);
    expect(kept.measured).toEqual({ plan: planned.text, ms: 5, sequentialMs: 11, rounds: 3, batch: 4 });
    expect(kept.reasons.join('\n')).toMatch(/5\.0 ms against 11\.0 ms/);
    const lost = confirmPlan(ctx, calib, planned, cost, clock({ sequential: [10, 10, 10], plan: [9, 12, 12] }, []));
    expect(isSequentialStrategy(lost.strategy)).toBe(true);
    expect(lost.complete).toBe(true);
    expect(lost.measured).toMatchObject({ plan: planned.text, ms: 12, sequentialMs: 10 });
    expect(lost.reasons[0]).toMatch(/sequential is faster here/);
    // On the wall clock: both samplers run and the decision follows the medians, leaving no tensors behind.
    const real = confirmPlan(ctx, calib, planned, cost);
    expect(real.measured!.rounds).toBe(3);
    expect(isSequentialStrategy(real.strategy)).toBe(!(real.measured!.ms < real.measured!.sequentialMs));
    // Objective depth, or a plan that is already sequential, is returned as it is.
    const depthCtx = planContext(model, { objective: 'depth', batch: 4, calibration: 4, seed: 1 });
    expect(confirmPlan(depthCtx, calib, planned, cost)).toBe(planned);
    expect(confirmPlan(ctx, calib, lost, cost)).toBe(lost);
    calib.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('strategy planner on a class-conditional model (wasm)', () => {
  it('takes labels of any length: cycled over the calibration batch and the timed batch', async () => {
    await useBackend('wasm');
    const model = loadModel(loadFixture('tiny-cond').checkpoint);
    const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2], 'int32');
    const before = tf.memory().numTensors;
    for (const effort of ['quick', 'thorough'] as const) {
      // Seven labels for a plan for batches of 3: the backend is timed on 3 samples with the first 3 labels.
      const plan = planStrategy(model, { objective: 'time', effort, batch: 3, samples: 3, labels, guidance: { scale: 2 } });
      expect(plan.cost?.batch).toBe(3);
      expect(plan.cost?.guided).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    labels.dispose();
    model.dispose();
  });
});

describe('joint plans judged on batches drawn from the calibration samples', () => {
  // Four samples traced over three joint iterations; sample 3 settles slowly.
  const moves = [
    [1, 1, 1, 5],
    [0.1, 0.1, 0.1, 2],
    [0.01, 0.01, 0.01, 0.5],
  ];
  const errors = [
    [0.1, 0.1, 0.1, 1],
    [0.01, 0.01, 0.01, 0.5],
    [0.001, 0.001, 0.001, 0.05],
  ];
  const peaks = errors.map((row) => row.map((e) => 10 * e));

  it('draws batches of the plan size, each of distinct samples, the same for the same seed', () => {
    const draws = sampleBatches(4, 2, 7);
    expect(draws.length).toBeGreaterThan(100);
    for (const d of draws) {
      expect(d).toHaveLength(2);
      expect(new Set(d).size).toBe(2);
      for (const i of d) expect(i >= 0 && i < 4).toBe(true);
    }
    expect(sampleBatches(4, 2, 7)).toEqual(draws);
    // No more samples than the batch: one batch of all.
    expect(sampleBatches(3, 8, 7)).toEqual([[0, 1, 2]]);
  });

  it('stops each batch on its own slowest sample', () => {
    const draws = sampleBatches(4, 2, 7);
    const holding = draws.filter((d) => d.includes(3)).length;
    expect(holding).toBeGreaterThan(0);
    expect(holding).toBeLessThan(draws.length);
    // At 0.5 a batch without sample 3 stops after 2 iterations, one with it after 3.
    const q = jointQuality(errors, peaks, moves, draws, 0.5, 4)!;
    expect(q.depth).toBeCloseTo(2 + holding / draws.length, 10);
    // Looser: every batch stops sooner; tighter than anything reached: no stop within the trace.
    expect(jointQuality(errors, peaks, moves, draws, 5, 4)!.depth).toBe(1);
    expect(jointQuality(errors, peaks, moves, draws, 0.001, 4)).toBeNull();
    // The batches that stop early with sample 3 absent are what the spread reports.
    expect(q.quality.se).toBeGreaterThan(0);
    expect(q.quality.max).toBeCloseTo(holding > 0 ? 0.5 : 0.1, 10);
  });
});
