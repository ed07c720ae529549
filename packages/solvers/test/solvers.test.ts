import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, tfSeed, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import {
  describeBlockStrategy,
  describeStrategy,
  formatStrategy,
  guidedMap,
  moduleBounds,
  parseStrategy,
  sequentialStrategy,
  solveBlock,
  StrategyError,
  type BlockStrategy,
  type CausalAffineMap,
  type Strategy,
} from '../src/index.js';
import { causalMlp } from './causal-mlp.js';

const backend = process.env.TARFLOW_SOLVER_BACKEND ?? 'wasm';

function noise(B: number, T: number, D: number, seed: number): PatchSeq {
  return tf.randomNormal([B, T, D], 0, 1, 'float32', tfSeed(seed)) as PatchSeq;
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
  const blocks = (text: string, n = 8, T = 49) => parseStrategy(text, n, T) as Strategy;

  it('parses and prints the [Stack-GS-J-Else] notation', () => {
    const s = blocks('[0/6-8-32-20]');
    expect(s[0]).toEqual({ kind: 'jacobi', modules: 8, maxIterations: 32 });
    expect(s[6]).toEqual({ kind: 'jacobi', modules: 8, maxIterations: 32 });
    expect(s[3]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 20 });
    expect(formatStrategy(s)).toBe('[0/6-8-32-20]');
    expect(formatStrategy(blocks('[6-8-32-10]'))).toBe('[6-8-32-10]');
    const mixed = parseStrategy('[{"kind":"sequential"},{"kind":"jacobi","modules":2,"maxIterations":3}]', 2, 16);
    expect(formatStrategy(mixed)).toBe(JSON.stringify(mixed));
    expect(parseStrategy('sequential', 3, 16)).toEqual(sequentialStrategy(3));
    expect((parseStrategy('jacobi', 2, 16, { tolerance: 1e-3 }) as Strategy)[1]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 15, tolerance: 1e-3 });
  });

  it('reads back every text it prints, options included', () => {
    const texts = ['sequential', '[0/6-8-32-20]', '[1-4-12-6] (tol 1e-4)', '[0-2-3-4] (tol 0.05, zeros guess)', 'jacobi:8', 'jacobi:48 (tol 1e-4)', 'joint:19', 'joint:19 (tol 0.01, table guess)'];
    for (const text of texts) {
      const s = parseStrategy(text, 8, 49);
      expect(formatStrategy(s)).toBe(text);
      expect(parseStrategy(formatStrategy(s), 8, 49)).toEqual(s);
    }
    expect(blocks('[1-4-12-6] (tol 1e-4)', 4)[1]).toEqual({ kind: 'jacobi', modules: 4, maxIterations: 12, tolerance: 1e-4 });
    // Text options win over the defaults; the defaults fill in the rest.
    expect(blocks('jacobi:5 (zeros guess)', 1, 16)[0]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 5, guess: 'zeros' });
    expect((parseStrategy('jacobi:5 (tol 0.1)', 1, 16, { tolerance: 1, guess: 'zeros' }) as Strategy)[0]).toEqual({ kind: 'jacobi', modules: 1, maxIterations: 5, tolerance: 0.1, guess: 'zeros' });
    // Per-block differences print as JSON, which reads back too.
    const mixed: Strategy = [{ kind: 'sequential' }, { kind: 'jacobi', modules: 2, maxIterations: 3, tolerance: 0.5 }, { kind: 'jacobi', modules: 1, maxIterations: 3 }];
    expect(parseStrategy(formatStrategy(mixed), 3, 16)).toEqual(mixed);
  });

  it('rejects bad strategies with a message naming the problem', () => {
    expect(() => parseStrategy('[9-8-32-10]', 8, 16)).toThrow(/block 9 does not exist/);
    expect(() => parseStrategy('[6-8-32]', 8, 16)).toThrow(StrategyError);
    expect(() => parseStrategy('fast please', 8, 16)).toThrow(/cannot parse strategy/);
    expect(() => parseStrategy('[{"kind":"magic"}]', 1, 16)).toThrow(/unknown kind "magic"/);
    expect(() => parseStrategy('[{"kind":"jacobi","maxIterations":0}]', 1, 16)).toThrow(/maxIterations must be a positive integer/);
    expect(() => parseStrategy('[{"kind":"sequential"}]', 2, 16)).toThrow(/1 block entries but the model has 2 blocks/);
    expect(() => parseStrategy('[0-2-3-4] (table guess)', 2, 16)).toThrow(/joint solve only/);
    expect(() => parseStrategy('jacobi:4 (tol -1)', 2, 16)).toThrow(/tolerance must be a decimal number >= 0/);
  });

  it('rejects input that is not text, and impossible model sizes', () => {
    for (const bad of [null, undefined, 42, {}, ['sequential']]) {
      expect(() => parseStrategy(bad, 4, 49)).toThrow(StrategyError);
    }
    expect(() => parseStrategy(null, 4, 49)).toThrow(/must be text .* got null/);
    for (const n of [NaN, -1, 0, 2.5, Infinity]) {
      expect(() => parseStrategy('sequential', n, 49)).toThrow(/number of blocks must be a positive integer/);
    }
    for (const T of [0, NaN, -3, 1.5]) {
      expect(() => parseStrategy('sequential', 4, T)).toThrow(/number of tokens must be a positive integer/);
    }
    expect(() => parseStrategy('   ', 4, 49)).toThrow(/must not be empty/);
  });

  it('rejects more GS modules than a block has positions, naming the limit', () => {
    expect(() => parseStrategy('[0-100-12-10]', 4, 49)).toThrow(/GS = 100 modules, but a block has only T − 1 = 48 positions to split \(at most 48 modules\)/);
    expect(() => parseStrategy('[0-1000-12-10]', 4, 49)).toThrow(StrategyError);
    expect(() => parseStrategy('[{"kind":"jacobi","modules":49,"maxIterations":3}]', 1, 49)).toThrow(/strategy\[0\]\.modules is 49, above the limit of 48/);
    expect(blocks('[0-48-1-1]', 4)[0]).toEqual({ kind: 'jacobi', modules: 48, maxIterations: 1 });
  });

  it('rejects iteration counts beyond the limit or not in decimal digits', () => {
    expect(() => parseStrategy('[0-4-99999999999999999999-10]', 4, 49)).toThrow(/above the limit of 1000000/);
    expect(() => parseStrategy('[0-4-12-1000001]', 4, 49)).toThrow(/Else .* above the limit of 1000000/);
    expect(() => parseStrategy('jacobi:99999999999999999999', 4, 49)).toThrow(/above the limit of 1000000/);
    expect(() => parseStrategy('joint:1e3', 4, 49)).toThrow(/decimal digits/);
    expect(() => parseStrategy('joint:0x10', 4, 49)).toThrow(/joint:N must be a positive integer in decimal digits, got "0x10"/);
    expect(() => parseStrategy('joint:-3', 4, 49)).toThrow(StrategyError);
    expect(() => parseStrategy('[{"kind":"jacobi","maxIterations":1e7}]', 1, 49)).toThrow(/maxIterations is 10000000, above the limit/);
    expect(() => parseStrategy('{"kind":"joint","maxIterations":1e300}', 1, 49)).toThrow(/above the limit/);
  });

  it('rejects JSON with null or unknown fields, naming the field and the allowed ones', () => {
    expect(() => parseStrategy('[{"kind":"jacobi","modules":null,"maxIterations":3}]', 1, 16)).toThrow(/strategy\[0\]\.modules must be a positive integer, got null/);
    expect(() => parseStrategy('[{"kind":"jacobi","maxIteration":3}]', 1, 16)).toThrow(
      /unknown field "maxIteration" for kind 'jacobi'; allowed: kind, modules, maxIterations, tolerance, guess/,
    );
    expect(() => parseStrategy('[{"kind":"sequential","modules":2}]', 1, 16)).toThrow(/unknown field "modules" for kind 'sequential'; allowed: kind/);
    expect(() => parseStrategy('{"kind":"joint","maxIterations":3,"table":{}}', 1, 16)).toThrow(/unknown field "table".*passed beside the strategy/);
    expect(() => parseStrategy('{"kind":"joint","maxIterations":3,"tolerance":null}', 1, 16)).toThrow(/tolerance must be a finite number/);
  });

  it('describes strategies in words, one way for every front end', () => {
    expect(describeBlockStrategy({ kind: 'sequential' })).toBe('sequential');
    expect(describeBlockStrategy({ kind: 'jacobi', modules: 1, maxIterations: 12, tolerance: 1e-4 })).toBe('Jacobi ≤ 12 it, tol 1e-4');
    expect(describeBlockStrategy({ kind: 'jacobi', modules: 4, maxIterations: 8, guess: 'zeros' })).toBe('GS-Jacobi G=4, ≤ 8 it/module, zeros guess');
    expect(describeStrategy(sequentialStrategy(4))).toBe('sequential');
    expect(describeStrategy(blocks('jacobi:8', 4))).toBe('Jacobi ≤ 8 it, on every block');
    expect(describeStrategy(blocks('[0-4-12-6] (tol 1e-4)', 4))).toBe('[0-4-12-6], tol 1e-4');
    expect(describeStrategy({ kind: 'joint', maxIterations: 19, guess: 'table' })).toBe('all blocks jointly, ≤ 19 joint it, table guess');
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
