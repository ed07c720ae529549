/** The benchmark's measuring and reporting, on the cpu backend with the small fixture model. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { benchModel, benchStrategy, describeStrategy, renderMarkdown, type BenchReport } from '../src/bench.js';
import { readFixture } from '../src/fixtures.js';

describe('gpu-bench measuring (cpu backend)', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = loadModel(readFixture('tiny-uncond').checkpoint);
  });
  afterAll(() => model.dispose());

  it('reads strategies by their bench names', () => {
    expect(describeStrategy(benchStrategy('sequential', model))).toBe('sequential');
    expect(describeStrategy(benchStrategy('jacobi-8', model))).toBe('plain Jacobi, 8 iterations per block');
    expect(describeStrategy(benchStrategy('[0-4-8-8]', model))).toBe('[0-4-8-8]');
    expect(() => benchStrategy('[9-4-8-8]', model)).toThrow(/block 9 does not exist/);
  });

  it('times each strategy, with depth, speed-up and difference from the sequential images', async () => {
    const lines: string[] = [];
    const r = await benchModel('tiny-uncond', model, {
      repeats: 2,
      batch: 1,
      strategies: ['jacobi-2', 'sequential', 'jacobi-15', 'nonsense'],
      seed: 1,
      guidance: 0,
      deadline: Date.now() + 60_000,
      log: (l) => lines.push(l),
    });
    expect(r.results.map((s) => s.name)).toEqual(['sequential', 'jacobi-2', 'jacobi-15']);
    const [seq, j2, j15] = r.results;
    expect(seq.depth).toBe(4 * 15);
    expect(seq.speedup).toBe(1);
    expect(seq.timesMs).toHaveLength(2);
    expect(j2.depth).toBe(4 * 2);
    expect(j2.maxAbsDiffVsSequential).toBeGreaterThan(0);
    // T − 1 = 15 Jacobi iterations solve each block exactly (up to float rounding).
    expect(j15.maxAbsDiffVsSequential).toBeLessThan(1e-3);
    expect(r.skipped).toEqual([{ name: 'nonsense', reason: expect.stringMatching(/cannot parse strategy/) }]);
    expect(tf.memory().numTensors).toBeLessThan(200);

    const report: BenchReport = {
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
    };
    const md = renderMarkdown(report);
    expect(md).toContain('| sequential | `sequential` | 60 / 60 |');
    expect(md).toContain('- not timed: nonsense (cannot parse strategy');
    expect(md).toContain('- model classifier not benchmarked: not a TarFlow checkpoint');
  });

  it('spends no more than its time budget', async () => {
    const r = await benchModel('tiny-uncond', model, {
      repeats: 1,
      batch: 1,
      strategies: ['sequential', 'jacobi-2'],
      seed: 0,
      guidance: 0,
      deadline: Date.now() - 1,
      log: () => undefined,
    });
    expect(r.results).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['time budget spent', 'time budget spent']);
  });
});
