import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import {
  chainFromMaps,
  formatStrategy,
  guessFromTable,
  parseStrategy,
  solveBlock,
  solveChainSteps,
  runSync,
  StrategyError,
  validateGuessTable,
  type CausalAffineMap,
  type JointStrategy,
} from '../src/index.js';
import { causalMlp } from './causal-mlp.js';

const backend = process.env.TARFLOW_SOLVER_BACKEND ?? 'wasm';
const reverse = (_k: number, x: PatchSeq) => tf.reverse(x, 1) as PatchSeq;

/** The chain solved block after block with the exact sequential inverse. */
function sequentialChain(maps: CausalAffineMap<any>[], z: PatchSeq): PatchSeq {
  let x = tf.clone(z) as PatchSeq;
  maps.forEach((m, k) => {
    const input = k === 0 ? x : reverse(k - 1, x);
    const r = solveBlock(m, input, { kind: 'sequential' });
    if (k > 0) input.dispose();
    x.dispose();
    x = r.x;
  });
  return x;
}

describe(`joint Jacobi over a chain of causal maps (${backend})`, () => {
  const T = 7;
  const D = 3;
  let mlps: Array<ReturnType<typeof causalMlp>>;
  let maps: CausalAffineMap<unknown>[];
  let chain: ReturnType<typeof chainFromMaps>;
  beforeAll(async () => {
    await tf.setBackend(backend);
    mlps = [0, 1, 2].map((i) => causalMlp(T, D, 20 + 5 * i));
    maps = mlps.map((m) => m.map) as CausalAffineMap<unknown>[];
    chain = chainFromMaps(maps, reverse);
  });
  afterAll(() => mlps.forEach((m) => m.dispose()));

  it('is exact after stages × (T − 1) joint iterations, and reports that depth', () => {
    const z = tf.randomNormal([2, T, D], 0, 1, 'float32', 3) as PatchSeq;
    const exact = sequentialChain(maps, z);
    const r = runSync(solveChainSteps(chain, z, { kind: 'joint', maxIterations: 3 * (T - 1) }));
    expect(maxAbsDiff(r.x, exact)).toBeLessThan(1e-5);
    expect(r.report.depth).toBe(r.report.joint?.iterations);
    expect(r.report.depth).toBeLessThanOrEqual(3 * (T - 1));
    expect(r.report.sequentialDepth).toBe(3 * (T - 1));
    expect(r.report.strategy).toBe('joint:18');
    // Each stage ran on every joint iteration until its freeze; the first stage froze after T − 1.
    expect(r.report.blocks[0].modules[0].iterations).toBe(T - 1);
    tf.dispose([z, exact, r.x]);
  });

  it('stops at the tolerance with less depth than the blocks one after another', () => {
    const T2 = 24;
    const long = [0, 1, 2].map((i) => causalMlp(T2, D, 40 + 5 * i, { coupling: 0.3 }));
    const lmaps = long.map((m) => m.map) as CausalAffineMap<unknown>[];
    const z = tf.randomNormal([4, T2, D], 0, 1, 'float32', 5) as PatchSeq;
    const exact = sequentialChain(lmaps, z);
    const r = runSync(solveChainSteps(chainFromMaps(lmaps, reverse), z, { kind: 'joint', maxIterations: 100, tolerance: 1e-5 }));
    expect(maxAbsDiff(r.x, exact)).toBeLessThan(1e-3);
    expect(r.report.depth).toBeLessThan(3 * (T2 - 1));
    // Block-by-block Jacobi at the same tolerance needs more dependent steps.
    let blockDepth = 0;
    let x = tf.clone(z) as PatchSeq;
    lmaps.forEach((m, k) => {
      const input = k === 0 ? x : reverse(k - 1, x);
      const s = solveBlock(m, input, { kind: 'jacobi', modules: 1, maxIterations: T2, tolerance: 1e-5 });
      if (k > 0) input.dispose();
      x.dispose();
      x = s.x;
      blockDepth += s.report.depth;
    });
    expect(r.report.depth).toBeLessThan(blockDepth);
    tf.dispose([z, exact, r.x, x]);
    long.forEach((m) => m.dispose());
  });

  it('a tolerance only cuts the solve short: the same iterates as a solve of that many iterations, however loose', () => {
    const T2 = 24;
    const long = [0, 1, 2].map((i) => causalMlp(T2, D, 60 + 5 * i, { coupling: 0.3 }));
    const lchain = chainFromMaps(long.map((m) => m.map) as CausalAffineMap<unknown>[], reverse);
    const z = tf.randomNormal([4, T2, D], 0, 1, 'float32', 6) as PatchSeq;
    // Residual of every stage at every count, from one solve without a tolerance.
    const residuals: number[][] = [];
    const full = runSync(solveChainSteps(lchain, z, { kind: 'joint', maxIterations: 3 * (T2 - 1) }, { onIteration: (_n, r) => residuals.push([...r]) }));
    // Tolerances at which the first stage alone has settled long before the others have.
    const loose = [0.5, 0.1, 0.01].filter((eps) => {
      const first = residuals.findIndex((r) => r[0] <= eps);
      const all = residuals.findIndex((r) => Math.max(...r) <= eps);
      return first >= 0 && all > first;
    });
    expect(loose.length).toBeGreaterThan(0);
    for (const eps of loose) {
      const stop = residuals.findIndex((r) => Math.max(...r) <= eps) + 1;
      const cut = runSync(solveChainSteps(lchain, z, { kind: 'joint', maxIterations: 100, tolerance: eps }));
      const fixed = runSync(solveChainSteps(lchain, z, { kind: 'joint', maxIterations: stop }));
      expect(cut.report.depth).toBe(stop);
      expect(maxAbsDiff(cut.x, fixed.x)).toBe(0);
      tf.dispose([cut.x, fixed.x]);
    }
    tf.dispose([z, full.x]);
    long.forEach((m) => m.dispose());
  });

  it("gives each sample's residual: a batch's is the largest of its samples', and a sub-batch's the largest of its own", () => {
    const z = tf.randomNormal([5, T, D], 0, 1, 'float32', 12) as PatchSeq;
    const whole: { batch: number; samples: number[] }[] = [];
    const r = runSync(
      solveChainSteps(chain, z, { kind: 'joint', maxIterations: 8 }, {
        onIteration: (_n, residuals, _last, sampleResiduals) => {
          const t = sampleResiduals();
          whole.push({ batch: Math.max(...residuals), samples: Array.from(t.dataSync()) });
          t.dispose();
        },
      }),
    );
    const sub = tf.gather(z, [1, 3]) as PatchSeq;
    const part: number[] = [];
    const s = runSync(solveChainSteps(chain, sub, { kind: 'joint', maxIterations: 8 }, { onIteration: (_n, residuals) => part.push(Math.max(...residuals)) }));
    expect(whole).toHaveLength(8);
    whole.forEach((w, n) => {
      expect(w.samples).toHaveLength(5);
      expect(Math.max(...w.samples)).toBeCloseTo(w.batch, 6);
      expect(Math.max(w.samples[1], w.samples[3])).toBeCloseTo(part[n], 5);
    });
    tf.dispose([z, sub, r.x, s.x]);
  });

  it('takes a per-label guess table for the first stage', () => {
    const z = tf.randomNormal([3, T, D], 0, 1, 'float32', 8) as PatchSeq;
    const exact = sequentialChain(maps, z);
    // Rows: label 0, label 1, unconditional.
    const data = Array.from({ length: 3 * T * D }, (_, i) => Math.floor(i / (T * D)) + 0.5);
    const table = { rows: 3, tokens: T, dim: D, data };
    const labels = tf.tensor1d([1, -1, 0], 'int32');
    const g = guessFromTable(table, z, labels);
    expect(Array.from(tf.mean(g, [1, 2]).dataSync())).toEqual([1.5, 2.5, 0.5]);
    const scaled = guessFromTable({ ...table, scale: new Array(T * D).fill(2) }, z, labels);
    expect(maxAbsDiff(scaled, tf.add(g, tf.mul(z, 2)))).toBeLessThan(1e-6);
    scaled.dispose();
    const s: JointStrategy = { kind: 'joint', maxIterations: 3 * (T - 1), guess: 'table' };
    const r = runSync(solveChainSteps(chain, z, s, { guess: g }));
    expect(maxAbsDiff(r.x, exact)).toBeLessThan(1e-5);
    expect(() => runSync(solveChainSteps(chain, z, s))).toThrow(/needs options.guess/);
    tf.dispose([z, exact, r.x, labels, g]);
  });

  it('falls back to the exact inverse when an iterate turns non-finite', () => {
    const broken: CausalAffineMap<any> = {
      ...maps[1],
      evaluate(x, start, cache) {
        const r = maps[1].evaluate(x, start, cache);
        if (x.shape[1] === 1) return r;
        const nan = tf.tidy(() => tf.mul(r.params.shift, NaN));
        r.params.shift.dispose();
        return { params: { logScale: r.params.logScale, shift: nan as PatchSeq }, cache: r.cache };
      },
    };
    const z = tf.randomNormal([2, T, D], 0, 1, 'float32', 9) as PatchSeq;
    const exact = sequentialChain(maps, z);
    const r = runSync(solveChainSteps(chainFromMaps([maps[0], broken, maps[2]], reverse), z, { kind: 'joint', maxIterations: 10 }));
    expect(r.report.fallbacks).toBeGreaterThan(0);
    expect(maxAbsDiff(r.x, exact)).toBeLessThan(1e-5);
    tf.dispose([z, exact, r.x]);
  });

  it('leaks no tensor', () => {
    const z = tf.randomNormal([2, T, D], 0, 1, 'float32', 4) as PatchSeq;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      runSync(solveChainSteps(chain, z, { kind: 'joint', maxIterations: 9, tolerance: 1e-3 })).x.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });

  it('parses, validates and formats joint strategies', () => {
    expect(parseStrategy('joint:19', 4, 49)).toEqual({ kind: 'joint', maxIterations: 19 });
    expect(parseStrategy('joint', 4, 49, { tolerance: 1e-3 })).toEqual({ kind: 'joint', maxIterations: 192, tolerance: 1e-3 });
    expect(parseStrategy('{"kind":"joint","maxIterations":5,"guess":"zeros"}', 4, 49)).toEqual({ kind: 'joint', maxIterations: 5, guess: 'zeros' });
    expect(Array.isArray(parseStrategy('sequential', 2, 49))).toBe(true);
    expect(() => parseStrategy('joint:0', 4, 49)).toThrow(StrategyError);
    expect(() => parseStrategy('joint:x', 4, 49)).toThrow(/positive integer/);
    expect(() => validateGuessTable({ rows: 1, tokens: 2, dim: 2, data: [1] })).toThrow(/4 finite numbers/);
    const text = formatStrategy({ kind: 'joint', maxIterations: 19, tolerance: 0.01, guess: 'zeros' });
    expect(text).toBe('joint:19 (tol 0.01, zeros guess)');
    expect(parseStrategy(text, 4, 49)).toEqual({ kind: 'joint', maxIterations: 19, tolerance: 0.01, guess: 'zeros' });
    expect(formatStrategy({ kind: 'joint', maxIterations: 7 })).toBe('joint:7');
    expect(() => parseStrategy('joint:7 (fast)', 4, 49)).toThrow(/unknown option "fast"/);
    expect(parseStrategy('joint:7 (table guess)', 4, 49)).toEqual({ kind: 'joint', maxIterations: 7, guess: 'table' });
  });

  it('names strategies compactly: sequential, notation, one token per block, joint text', () => {
    const compact = (s: Parameters<typeof formatStrategy>[0]) => formatStrategy(s, { compact: true });
    const J = (n: number, extra: object = {}) => ({ kind: 'jacobi' as const, modules: 1, maxIterations: n, ...extra });
    expect(compact([{ kind: 'sequential' }, { kind: 'sequential' }])).toBe('sequential');
    expect(compact([{ kind: 'sequential' }, J(2, { tolerance: 1 }), J(2, { tolerance: 1 }), J(2, { tolerance: 1 })])).toBe('seq J2 J2 J2, tol 1');
    expect(compact([J(22, { tolerance: 0.1, guess: 'zeros' }), J(3, { tolerance: 1e-4 })])).toBe('J22z@0.1 J3@1e-4');
    expect(compact([J(8), J(8), J(8)])).toBe('J8 on every block');
    expect(compact([{ kind: 'jacobi', modules: 4, maxIterations: 12 }, { kind: 'sequential' }])).toBe('GS4×12 seq');
    expect(compact([{ kind: 'jacobi', modules: 4, maxIterations: 12, tolerance: 1e-4 }, J(10, { tolerance: 1e-4 })])).toBe('[0-4-12-10], tol 1e-4');
    expect(compact([{ kind: 'sequential' }, { kind: 'jacobi', modules: 2, maxIterations: 9, guess: 'zeros', tolerance: 0.01 }, J(5, { tolerance: 0.03 })])).toBe('seq GS2×9z@0.01 J5@0.03');
    expect(compact({ kind: 'joint', maxIterations: 19, guess: 'table' })).toBe('joint:19 (table guess)');
  });
});
