import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { findUnconverged, mergeReports, solveBlock, summarizeReports, type BlockReport, type SolveReport } from '../src/index.js';
import { causalMlp } from './causal-mlp.js';

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
    unconverged: findUnconverged(blocks),
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

describe('unconverged modules', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('flags a Jacobi solve that stops at its budget above its tolerance, with its residual', () => {
    const T = 12;
    const { map, dispose } = causalMlp(T, 3, 5, { scale: 0.8, coupling: 1 });
    const z = tf.randomNormal([2, T, 3], 0, 1, 'float32', 11) as PatchSeq;
    const before = tf.memory().numTensors;
    const short = solveBlock(map, z, { kind: 'jacobi', modules: 1, maxIterations: 2, tolerance: 1e-6 });
    const full = solveBlock(map, z, { kind: 'jacobi', modules: 1, maxIterations: T, tolerance: 1e-6 });
    const report = summarizeReports([short.report, full.report], T, [short.report.strategy, full.report.strategy], 0);
    // The short solve ran out of iterations above 1e-6; the full one is exact (T − 1 positions, ≥ T − 1 iterations).
    expect(report.unconverged).toHaveLength(1);
    const u = report.unconverged[0];
    expect(u).toMatchObject({ block: 0, module: 0, start: 1, end: T - 1, iterations: 2, tolerance: 1e-6 });
    expect(u.residual).toBe(short.report.modules[0].residuals[1]);
    expect(u.residual).toBeGreaterThan(1e-6);
    // Merged chunks keep the flag, with the larger residual.
    const merged = mergeReports([report, { ...report, unconverged: [{ ...u, residual: u.residual * 2 }] }]);
    expect(merged.unconverged.map((x) => x.residual)).toEqual([u.residual * 2]);
    tf.dispose([short.x, full.x]);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    dispose();
  });

  it('does not flag a solve without a tolerance, a converged one or a re-solved one', () => {
    const block = (residuals: number[], over: Partial<BlockReport> = {}): BlockReport => ({
      strategy: { kind: 'jacobi', modules: 1, maxIterations: 3, tolerance: 1e-3 },
      modules: [{ start: 1, end: 9, iterations: residuals.length, residuals, depth: residuals.length }],
      depth: residuals.length,
      positionsEvaluated: 0,
      fallbacks: 0,
      wallMs: 0,
      ...over,
    });
    expect(findUnconverged([block([1, 0.5, 1e-4])])).toEqual([]);
    expect(findUnconverged([block([1, 0.5, 0.2], { strategy: { kind: 'jacobi', modules: 1, maxIterations: 3 } })])).toEqual([]);
    const reSolved = block([1, 2, 4]);
    reSolved.modules[0].fallback = { reason: 'grew', afterIteration: 3 };
    expect(findUnconverged([reSolved])).toEqual([]);
    expect(findUnconverged([block([1, 0.5, 0.2])])).toEqual([{ block: 0, module: 0, start: 1, end: 9, iterations: 3, residual: 0.2, tolerance: 1e-3 }]);
    // Joint: only blocks still iterating when the joint budget ran out.
    const early = block([1, 1e-4]);
    expect(findUnconverged([early, block([1, 0.5, 0.2])], { iterations: 3 }).map((u) => u.block)).toEqual([1]);
  });
});
