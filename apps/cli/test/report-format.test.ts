import { describe, expect, it } from 'vitest';
import { findUnconverged, type BlockReport } from '@tarflow/solvers';
import { formatReport } from '../src/format.js';

describe('formatReport warnings', () => {
  const block = (residuals: number[]): BlockReport => ({
    strategy: { kind: 'jacobi', modules: 1, maxIterations: 3, tolerance: 1e-3 },
    modules: [{ start: 1, end: 15, iterations: residuals.length, residuals, depth: residuals.length }],
    depth: residuals.length,
    positionsEvaluated: 15 * residuals.length,
    fallbacks: 0,
    wallMs: 1,
  });

  it('warns about a block that stopped at its budget above its tolerance, and only then', () => {
    const blocks = [block([1, 0.9, 0.8]), block([1, 0.1, 1e-4])];
    const report = { blocks, depth: 6, sequentialDepth: 30, fallbacks: 0, unconverged: findUnconverged(blocks), wallMs: 2, strategy: 'jacobi:3' };
    const text = formatReport(report, 2);
    expect(text).toMatch(/^warning: block 0: stopped at its budget of 3 iterations with residual 0\.800 above its tolerance 1\.00e-3; its samples are not exact/m);
    expect(text).not.toMatch(/block 1:/);
    expect(formatReport({ ...report, unconverged: [] }, 2)).not.toMatch(/warning/);
  });
});
