/** The GPU benchmark's measuring and reporting, on the cpu backend with the small fixture models. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { selectBackend } from '@tarflow/backends';
import { fixturesDir } from '@tarflow/test-fixtures';
import { describeStrategy } from '@tarflow/solvers';
import { benchModel, benchPlanner, benchStrategy, renderGpuMarkdown, renderPlannerMarkdown, type GpuBenchReport } from '../src/index.js';

const checkpoint = (name: string) => new Uint8Array(readFileSync(join(fixturesDir(), `${name}.safetensors`)));

describe('gpu-bench measuring (cpu backend)', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = loadModel(checkpoint('tiny-uncond'));
  });
  afterAll(() => model.dispose());

  it('reads strategies by their bench names', () => {
    expect(describeStrategy(benchStrategy('sequential', model))).toBe('sequential');
    expect(describeStrategy(benchStrategy('jacobi:8', model))).toBe('Jacobi ≤ 8 it, on every block');
    expect(describeStrategy(benchStrategy('[0-4-8-8]', model))).toBe('[0-4-8-8]');
    expect(() => benchStrategy('[9-4-8-8]', model)).toThrow(/block 9 does not exist/);
  });

  it('times each strategy, with depth, speed-up and difference from the sequential images', async () => {
    const lines: string[] = [];
    const before = tf.memory().numTensors;
    const r = await benchModel('tiny-uncond', model, {
      repeats: 2,
      batch: 1,
      strategies: ['jacobi:2', 'sequential', 'jacobi:15', 'nonsense'],
      seed: 1,
      guidance: 0,
      deadline: Date.now() + 60_000,
      log: (l) => lines.push(l),
    });
    expect(r.results.map((s) => s.name)).toEqual(['sequential', 'jacobi:2', 'jacobi:15']);
    const [seq, j2, j15] = r.results;
    expect(seq.depth).toBe(4 * 15);
    expect(seq.speedup).toBe(1);
    expect(seq.timesMs).toHaveLength(2);
    expect(j2.depth).toBe(4 * 2);
    expect(j2.maxAbsDiffVsSequential).toBeGreaterThan(0);
    // T − 1 = 15 Jacobi iterations solve each block exactly (up to float rounding).
    expect(j15.maxAbsDiffVsSequential).toBeLessThan(1e-3);
    expect(r.skipped).toEqual([{ name: 'nonsense', reason: expect.stringMatching(/cannot parse strategy/) }]);
    expect(tf.memory().numTensors).toBe(before);

    const report: GpuBenchReport = {
      status: 'ok',
      backend: 'cpu',
      backendDetail: 'cpu (JavaScript)',
      notes: [],
      node: process.version,
      startedAt: '2026-01-01T00:00:00.000Z',
      wallS: 1,
      options: { repeats: 2, batch: 2, strategies: [], seed: 1, guidance: 0, asyncReads: false },
      models: [r],
      skippedModels: [{ model: 'classifier', reason: 'not a TarFlow checkpoint' }],
      conformance: [],
      planner: [],
    };
    const md = renderGpuMarkdown(report);
    expect(md).toContain('| sequential | `sequential` | 60 / 60 |');
    expect(md).toContain('- not timed: nonsense (cannot parse strategy');
    expect(md).toContain('- model classifier not benchmarked: not a TarFlow checkpoint');
  });

  it('spends no more than its time budget', async () => {
    const r = await benchModel('tiny-uncond', model, {
      repeats: 1,
      batch: 1,
      strategies: ['sequential', 'jacobi:2'],
      seed: 0,
      guidance: 0,
      deadline: Date.now() - 1,
      log: () => undefined,
    });
    expect(r.results).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['time budget spent', 'time budget spent']);
  });

  it('runs the planner on a conditional model: sequential and both objectives, timed, compared and sampled for FD', async () => {
    await selectBackend('wasm'); // the planner runs dozens of solves: too slow on the cpu backend for a unit test
    const cond = loadModel(checkpoint('tiny-cond'));
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    try {
      const { bench, images } = await benchPlanner('tiny-cond', cond, {
        batch: 2,
        fdBatch: 3,
        guidance: 1.5,
        temperature: 0.8,
        seed: 3,
        repeats: 1,
        plan: { calibration: 2, tolerances: [0.1], trim: false },
        deadline: Date.now() + 240_000,
        log: (l) => lines.push(l),
      });
      expect(bench.rows.map((r) => r.name)).toEqual(['sequential', 'planner, objective time', 'planner, objective depth']);
      const [seq, time, depth] = bench.rows;
      expect(seq).toMatchObject({ strategy: 'sequential', speedup: 1, meanAbsDiff: 0, maxAbsDiff: 0 });
      expect(seq.depth).toBe(seq.sequentialDepth);
      for (const r of [time, depth]) {
        expect(r.planMs).toBeGreaterThan(0);
        // The plan meets the planner's bound, or is the exact fallback (sequential).
        if (r.strategy !== 'sequential') expect(r.predicted!.meanAbsDiffBound).toBeLessThanOrEqual(0.01);
        expect(r.depth).toBeLessThanOrEqual(seq.depth);
        expect(r.timesMs).toHaveLength(1);
        expect(Number.isFinite(r.meanAbsDiff)).toBe(true);
      }
      expect(depth.depth).toBeLessThan(seq.depth);
      expect(Object.keys(images!.images)).toEqual(['sequential', 'planner, objective time', 'planner, objective depth']);
      expect(images!.shape).toEqual([3, cond.config.in_channels, cond.config.img_size, cond.config.img_size]);
      expect(Array.from(images!.labels)).toEqual([0, 1, 2].map((i) => i % cond.config.num_classes));
      for (const v of Object.values(images!.images)) expect(v.length).toBe(3 * cond.config.in_channels * cond.config.img_size ** 2);
      const md = renderPlannerMarkdown(bench).join('\n');
      expect(md).toContain('## Planner on tiny-cond (batch 2, guidance 1.5, temperature 0.8)');
      expect(md).toContain(`| planner, objective depth | \`${depth.strategy}\` | ${depth.depth} / ${seq.depth} |`);
      expect(tf.memory().numTensors).toBe(before);
      // Past its deadline it times the sequential sampler's warm-up only and plans nothing.
      const late = await benchPlanner('tiny-cond', cond, { batch: 1, fdBatch: 0, guidance: 0, temperature: 1, seed: 0, repeats: 1, deadline: Date.now() - 1, log: () => undefined });
      expect(late.bench.rows).toEqual([]);
      expect(late.bench.skipped.map((s) => s.reason)).toEqual(['time budget spent after the warm-up run', 'time budget spent', 'time budget spent']);
      expect(late.images).toBeNull();
    } finally {
      cond.dispose();
      await tf.setBackend('cpu');
    }
  }, 300_000);
});
