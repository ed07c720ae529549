import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import {
  formatStrategy,
  guidedMap,
  moduleBounds,
  parseNotation,
  parseStrategy,
  solveBlock,
  StrategyError,
  type BlockStrategy,
  type CausalAffineMap,
} from '../src/index.js';
import { causalMlp } from './causal-mlp.js';

const backend = process.env.TARFLOW_SOLVER_BACKEND ?? 'wasm';

function noise(B: number, T: number, D: number, seed: number): PatchSeq {
  return tf.randomNormal([B, T, D], 0, 1, 'float32', seed) as PatchSeq;
}

function solve(map: CausalAffineMap<any>, z: PatchSeq, s: BlockStrategy, opts = {}) {
  return solveBlock(map, z, s, opts);
}

describe(`solvers on a non-TarFlow causal map (${backend})`, () => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it('Jacobi and GS-Jacobi converge to the sequential inverse, with the depth they report', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 10_000 }),
        (T, D, B, seed) => {
          const { map, dispose } = causalMlp(T, D, seed);
          const z = noise(B, T, D, seed + 7);
          const seq = solve(map, z, { kind: 'sequential' });
          expect(seq.report.depth).toBe(T - 1);
          const jac = solve(map, z, { kind: 'jacobi', modules: 1, maxIterations: T - 1 });
          expect(maxAbsDiff(jac.x, seq.x)).toBeLessThan(1e-5);
          const gs = solve(map, z, { kind: 'jacobi', modules: T - 1, maxIterations: 1 });
          expect(maxAbsDiff(gs.x, seq.x)).toBeLessThan(1e-5);
          expect(gs.report.depth).toBe(T - 1);
          const G = Math.max(1, Math.floor((T - 1) / 2));
          const mixed = solve(map, z, { kind: 'jacobi', modules: G, maxIterations: T, guess: 'zeros' });
          expect(maxAbsDiff(mixed.x, seq.x)).toBeLessThan(1e-5);
          tf.dispose([z, seq.x, jac.x, gs.x, mixed.x]);
          dispose();
        },
      ),
      { numRuns: 12, seed: 42 },
    );
  });

  it('stops early at the tolerance and lands within it of the exact inverse', () => {
    const T = 16;
    const { map, dispose } = causalMlp(T, 4, 5, { scale: 0.1, coupling: 0.1 });
    const z = noise(2, T, 4, 9);
    const exact = solve(map, z, { kind: 'sequential' });
    for (const tol of [1e-1, 1e-2, 1e-3]) {
      const r = solve(map, z, { kind: 'jacobi', modules: 1, maxIterations: 100, tolerance: tol });
      const iters = r.report.modules[0].iterations;
      expect(iters).toBeLessThan(T - 1);
      expect(r.report.modules[0].residuals[iters - 1]).toBeLessThanOrEqual(tol);
      expect(maxAbsDiff(r.x, exact.x)).toBeLessThanOrEqual(tol);
      r.x.dispose();
    }
    tf.dispose([z, exact.x]);
    dispose();
  });

  it('guidance composes with every solver', () => {
    const T = 10;
    const a = causalMlp(T, 3, 1);
    const b = causalMlp(T, 3, 2);
    const z = noise(2, T, 3, 3);
    for (const annealed of [false, true]) {
      const g = guidedMap(a.map, b.map, { scale: 0.7, on: 'both', annealed });
      const seq = solve(g, z, { kind: 'sequential' });
      const jac = solve(g, z, { kind: 'jacobi', modules: 3, maxIterations: 10 });
      expect(maxAbsDiff(seq.x, jac.x)).toBeLessThan(1e-5);
      tf.dispose([seq.x, jac.x]);
    }
    tf.dispose(z);
    a.dispose();
    b.dispose();
  });

  it('a deliberately unstable block falls back to the exact inverse and reports it', () => {
    const T = 9;
    // shift feeds back 6·x: Jacobi's iterates blow up before they settle.
    const { map, dispose } = causalMlp(T, 2, 11, { gain: 6 });
    const z = noise(1, T, 2, 4);
    const exact = solve(map, z, { kind: 'sequential' });
    const r = solve(map, z, { kind: 'jacobi', modules: 1, maxIterations: 8 }, { divergence: { patience: 2 } });
    expect(r.report.fallbacks).toBe(1);
    expect(r.report.modules[0].fallback?.reason).toMatch(/grew/);
    expect(maxAbsDiff(r.x, exact.x) / Math.max(1, tf.max(tf.abs(exact.x)).dataSync()[0])).toBeLessThan(1e-5);
    tf.dispose([z, exact.x, r.x]);
    dispose();
  });

  it('non-finite Jacobi passes trigger the fallback; the result is never NaN', () => {
    const T = 8;
    const { map: base, dispose } = causalMlp(T, 2, 3);
    // Returns NaN whenever it is asked for more than one position at once.
    const broken: CausalAffineMap<any> = {
      ...base,
      evaluate(x, start, cache) {
        const r = base.evaluate(x, start, cache);
        if (x.shape[1] === 1) return r;
        const nan = tf.tidy(() => tf.mul(r.params.shift, NaN));
        r.params.shift.dispose();
        return { params: { logScale: r.params.logScale, shift: nan as PatchSeq }, cache: r.cache };
      },
    };
    const z = noise(2, T, 2, 1);
    const exact = solve(base, z, { kind: 'sequential' });
    const r = solve(broken, z, { kind: 'jacobi', modules: 2, maxIterations: 4 });
    expect(r.report.fallbacks).toBe(2);
    expect(r.report.modules[0].fallback?.reason).toMatch(/non-finite/);
    expect(tf.all(tf.isFinite(r.x)).dataSync()[0]).toBe(1);
    expect(maxAbsDiff(r.x, exact.x)).toBeLessThan(1e-6);
    tf.dispose([z, exact.x, r.x]);
    dispose();
  });

  it('leaks no tensor across 100 solves', () => {
    const T = 8;
    const { map, dispose } = causalMlp(T, 3, 2);
    const g = guidedMap(map, causalMlp(T, 3, 4).map, { scale: 1, annealed: true });
    const z = noise(2, T, 3, 1);
    const strategies: BlockStrategy[] = [
      { kind: 'sequential' },
      { kind: 'jacobi', modules: 1, maxIterations: 7 },
      { kind: 'jacobi', modules: 3, maxIterations: 2, guess: 'zeros' },
      { kind: 'jacobi', modules: 2, maxIterations: 50, tolerance: 1e-4 },
    ];
    const run = (i: number) => {
      const opts = i % 2 === 0 ? {} : { clamp: 'reference' as const, moduleCache: 'last-iteration' as const };
      tf.dispose(solve(i % 3 === 0 ? g : map, z, strategies[i % strategies.length], opts).x);
    };
    run(0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) run(i);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    dispose();
  });
});

describe('strategies', () => {
  it('parses and prints the [Stack-GS-J-Else] notation', () => {
    const s = parseNotation('[0/6-8-32-20]', 8);
    expect(s[0]).toEqual({ kind: 'jacobi', modules: 8, maxIterations: 32 });
    expect(s[6]).toEqual({ kind: 'jacobi', modules: 8, maxIterations: 32 });
    expect(s[3]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 20 });
    expect(formatStrategy(s)).toBe('[0/6-8-32-20]');
    expect(formatStrategy(parseNotation('[6-8-32-10]', 8))).toBe('[6-8-32-10]');
    const mixed = parseStrategy('[{"kind":"sequential"},{"kind":"jacobi","modules":2,"maxIterations":3}]', 2, 16);
    expect(formatStrategy(mixed)).toBe(JSON.stringify(mixed));
    expect(parseStrategy('sequential', 3, 16)).toHaveLength(3);
    expect(parseStrategy('jacobi', 2, 16, { tolerance: 1e-3 })[1]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 15, tolerance: 1e-3 });
  });

  it('rejects bad strategies with a message naming the problem', () => {
    expect(() => parseNotation('[9-8-32-10]', 8)).toThrow(/block 9 does not exist/);
    expect(() => parseStrategy('[6-8-32]', 8, 16)).toThrow(StrategyError);
    expect(() => parseStrategy('fast please', 8, 16)).toThrow(/cannot parse strategy/);
    expect(() => parseStrategy('[{"kind":"magic"}]', 1, 16)).toThrow(/unknown kind "magic"/);
    expect(() => parseStrategy('[{"kind":"jacobi","maxIterations":0}]', 1, 16)).toThrow(/maxIterations must be a positive integer/);
    expect(() => parseStrategy('[{"kind":"sequential"}]', 2, 16)).toThrow(/1 block entries but the model has 2 blocks/);
  });

  it('module bounds follow the reference and cover every position when T is not divisible by G', () => {
    expect(moduleBounds(16, 4)).toEqual([[1, 4], [5, 8], [9, 12], [13, 15]]);
    expect(moduleBounds(36, 4)).toEqual([[1, 9], [10, 18], [19, 27], [28, 35]]);
    expect(moduleBounds(16, 1)).toEqual([[1, 15]]);
    for (const [T, G] of [[16, 3], [49, 8], [10, 7], [5, 9]]) {
      const b = moduleBounds(T, G);
      const covered = b.flatMap(([s, e]) => Array.from({ length: e - s + 1 }, (_, i) => s + i));
      expect(covered).toEqual(Array.from({ length: T - 1 }, (_, i) => i + 1));
      expect(b.length).toBe(Math.min(G, T - 1));
    }
  });
});
