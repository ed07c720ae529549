import { describe, expect, it } from 'vitest';
import { mergeReports, type BlockReport, type SolveReport } from '../src/index.js';

describe('mergeReports', () => {
  const block = (iterations: number, fallbacks = 0): BlockReport => ({
    strategy: { kind: 'jacobi', modules: 1, maxIterations: 10 },
    modules: [{ start: 1, end: 9, iterations, residuals: [], depth: iterations }],
    depth: iterations,
    positionsEvaluated: 9 * iterations,
    fallbacks,
    wallMs: 10,
  });
  const report = (blocks: BlockReport[]): SolveReport => ({
    blocks,
    depth: blocks.reduce((s, b) => s + b.depth, 0),
    sequentialDepth: 9 * blocks.length,
    fallbacks: blocks.reduce((s, b) => s + b.fallbacks, 0),
    wallMs: 20,
    strategy: '',
  });

  it('keeps the slowest chunk per block and sums work, fallbacks and time', () => {
    const m = mergeReports([report([block(3), block(5, 1)]), report([block(4), block(2)])]);
    expect(m.blocks.map((b) => b.depth)).toEqual([4, 5]);
    expect(m.depth).toBe(9);
    expect(m.fallbacks).toBe(1);
    expect(m.wallMs).toBe(40);
    expect(m.blocks[0].positionsEvaluated).toBe(9 * 7);
  });
});
