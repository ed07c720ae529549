/** The CLI's own small pieces, in process: flag parsers, shard ranges, report text, merged reports. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { checkLabelValues, intArg, labelsArg, numberArg, outputKind, shardArg } from '../src/args.js';
import type { BlockStrategy } from '@tarflow/solvers';
import { formatReport } from '../src/format.js';
import { shardRange } from '../src/commands/sample.js';

describe('flag parsers', () => {
  it('integers and numbers', () => {
    expect(intArg(1)('16')).toBe(16);
    for (const bad of ['0', '1.5', 'x', '', '1e3']) expect(() => intArg(1)(bad)).toThrow(InvalidArgumentError);
    expect(numberArg(0)('1e-4')).toBe(1e-4);
    expect(() => numberArg(0)('-1')).toThrow(InvalidArgumentError);
    expect(() => numberArg(0, true)('0')).toThrow(InvalidArgumentError);
    expect(() => numberArg(0)('NaN')).toThrow(InvalidArgumentError);
  });

  it('shards, labels and output names', () => {
    expect(shardArg('2/4')).toEqual({ index: 2, count: 4 });
    for (const bad of ['0/4', '5/4', '2', 'a/b', '1/0']) expect(() => shardArg(bad)).toThrow(InvalidArgumentError);
    expect(labelsArg('random')).toEqual({ kind: 'random' });
    expect(labelsArg('0, 1,-1')).toEqual({ kind: 'list', values: [0, 1, -1] });
    expect(() => labelsArg('1,x')).toThrow(InvalidArgumentError);
    expect(() => checkLabelValues([0, 9], 10, '--labels')).not.toThrow();
    expect(() => checkLabelValues([10], 10, '--labels')).toThrow(/unknown label 10/);
    expect(() => checkLabelValues([0], 0, '--labels')).toThrow(/unconditional/);
    expect(outputKind('a/B.PNG')).toBe('png');
    expect(outputKind('x.safetensors')).toBe('safetensors');
    expect(() => outputKind('x.jpg')).toThrow(/must end in/);
  });
});

describe('shardRange', () => {
  it('splits any run into contiguous ranges that cover it exactly once', () => {
    for (const total of [1, 5, 64, 1000]) {
      for (const count of [1, 2, 3, 7]) {
        let at = 0;
        for (let index = 1; index <= count; index++) {
          const { start, end } = shardRange(total, { index, count });
          expect(start).toBe(at);
          expect(end).toBeGreaterThanOrEqual(start);
          at = end;
        }
        expect(at).toBe(total);
      }
    }
  });
});

describe('formatReport', () => {
  it('describes each block and names the whole strategy briefly', () => {
    const strategies: BlockStrategy[] = [
      { kind: 'sequential' },
      { kind: 'jacobi', modules: 2, maxIterations: 9, guess: 'zeros', tolerance: 0.01 },
    ];
    const blocks = strategies.map((strategy) => ({
      strategy,
      modules: [{ start: 1, end: 15, iterations: strategy.kind === 'sequential' ? 0 : 4, residuals: [], depth: 4 }],
      depth: strategy.kind === 'sequential' ? 15 : 4,
      positionsEvaluated: 15,
      fallbacks: 0,
      wallMs: 1,
    }));
    const text = formatReport({ blocks, depth: 19, sequentialDepth: 30, fallbacks: 0, unconverged: [], wallMs: 2, strategy: 'ignored' }, 2);
    expect(text).toMatch(/GS-Jacobi G=2, ≤ 9 it\/module, tol 0\.01, zeros guess/);
    expect(text).toMatch(/strategy seq GS2×9z, tol 0\.01\n/);
    expect(text).toMatch(/depth 19 of 30 sequential/);
  });
});
