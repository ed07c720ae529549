import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { fusedBlockMap, type FusedCache } from '@tarflow/kernels';
import { loadModel, type TarFlow } from '../src/index.js';
import { disposeParams, runAsync, solveBlockSteps, solveChainSteps, type BlockStrategy, type CausalAffineMap } from '@tarflow/solvers';
import { BACKENDS, blockWeights, expectedTensor, loadFixture, relErr, useBackend } from './helpers.js';
import '@tensorflow/tfjs-backend-cpu';

/** Fused against plain: max |fused − plain| / max(1, |plain|). */
const TOL = 1e-5;

const STRATEGIES: Array<[string, BlockStrategy]> = [
  ['sequential', { kind: 'sequential' }],
  ['Jacobi', { kind: 'jacobi', modules: 1, maxIterations: 3 }],
  ['GS-Jacobi', { kind: 'jacobi', modules: 3, maxIterations: 2 }],
];

// Block 0 keeps the position order, block 1 reverses it.
const CASES = [
  { fixture: 'tiny-cond', labels: true, guidance: null, blocks: [1] },
  { fixture: 'tiny-cond', labels: true, guidance: { scale: 1.5, on: 'both', annealed: true, attnTemp: 0.8 }, blocks: [0, 1] },
  { fixture: 'tiny-cond', labels: false, guidance: { scale: 2, on: 'gamma', annealed: false }, blocks: [1] },
  { fixture: 'tiny-uncond', labels: false, guidance: null, blocks: [0] },
  { fixture: 'tiny-uncond', labels: false, guidance: { scale: 1, on: 'alpha', annealed: true, attnTemp: 0.7 }, blocks: [1] },
] as const;

describe.each(BACKENDS)('fusedBlockMap on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(CASES)('$fixture (labels $labels, guidance $guidance.scale $guidance.on)', ({ fixture, labels: useLabels, guidance, blocks }) => {
    let model: TarFlow;
    let noise: PatchSeq;
    let labels: tf.Tensor1D | undefined;
    beforeAll(() => {
      const f = loadFixture(fixture);
      model = loadModel(f.checkpoint);
      noise = expectedTensor(f, 'noise') as PatchSeq;
      labels = useLabels ? (expectedTensor(f, 'labels') as tf.Tensor1D) : undefined;
    });
    afterAll(() => {
      model.dispose();
      tf.dispose([noise, labels ?? []]);
    });

    describe.each([...blocks])('block %i', (index) => {
      it.each(STRATEGIES)("%s solve: samplingMap's fused engine matches its plain one", async (_, strategy) => {
        const plain = model.samplingMap(index, labels, guidance ?? undefined, 'plain');
        const fused = model.samplingMap(index, labels, guidance ?? undefined, 'fused');
        const before = tf.memory().numTensors;
        const a = await runAsync(solveBlockSteps(plain, noise, strategy));
        const b = await runAsync(solveBlockSteps(fused, noise, strategy));
        expect(b.report.depth).toBe(a.report.depth);
        expect(b.report.modules.map((m) => m.iterations)).toEqual(a.report.modules.map((m) => m.iterations));
        expect(relErr(b.x, a.x)).toBeLessThanOrEqual(TOL);
        tf.dispose([a.x, b.x]);
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  });

  it("a joint solve: samplingChain's fused engine (a chain of fused maps) matches the plain stacked chain", async () => {
    const f = loadFixture('tiny-cond');
    const model = loadModel(f.checkpoint);
    const noise = expectedTensor(f, 'noise') as PatchSeq;
    const labels = expectedTensor(f, 'labels') as tf.Tensor1D;
    const guidance = { scale: 1.5, on: 'both', annealed: true } as const;
    const L = model.blocks.length;
    const plain = model.samplingChain(labels, guidance, 'plain');
    const fused = model.samplingChain(labels, guidance, 'fused');
    const z = model.permuteForBlock(L - 1, noise);
    const strategy = { kind: 'joint', maxIterations: 6 } as const;
    const a = await runAsync(solveChainSteps(plain, z, strategy));
    const b = await runAsync(solveChainSteps(fused, z, strategy));
    expect(b.report.depth).toBe(a.report.depth);
    expect(relErr(b.x, a.x)).toBeLessThanOrEqual(TOL);
    plain.dispose();
    fused.dispose();
    tf.dispose([a.x, b.x, z, noise, labels]);
    model.dispose();
  });

  describe('the cache', () => {
    let model: TarFlow;
    let x: PatchSeq;
    let map: CausalAffineMap<FusedCache>;
    let owned: tf.Tensor[];
    let labels: tf.Tensor1D;
    beforeAll(() => {
      labels = tf.tensor1d([1, -1, 3, 0], 'int32');
      const f = loadFixture('tiny-cond');
      model = loadModel(f.checkpoint);
      x = expectedTensor(f, 'noise') as PatchSeq;
      const w = blockWeights(model, 1);
      owned = w.owned;
      map = fusedBlockMap(w.weights, { heads: model.heads, labels, guidance: { scale: 2, on: 'both', attnTemp: 0.9 } });
    });
    afterAll(() => {
      model.dispose();
      tf.dispose([x, labels, ...owned]);
    });

    const span = (from: number, n: number) => tf.slice(x, [0, from, 0], [-1, n, -1]) as PatchSeq;
    const evalSpan = (cache: FusedCache, from: number, n: number) => {
      const s = span(from, n);
      const r = map.evaluate(s, from, cache);
      s.dispose();
      return r;
    };

    it('a span evaluated after a truncation while a longer view lives agrees with a fresh cache, and the longer view keeps its values', () => {
      const before = tf.memory().numTensors;
      const empty = map.emptyCache(4);
      const long = evalSpan(empty, 0, 10); // positions [0, 10)
      disposeParams(long.params);
      const short = map.truncateCache(long.cache, 6);
      // Overwrites positions 6… of a buffer that `long` still reads: evaluate must not let `long` see it.
      const other = span(6, 3);
      const shifted = tf.tidy(() => tf.add(other, 0.5)) as PatchSeq;
      const r1 = map.evaluate(shifted, 6, short);
      // `long` continues with its own positions [0, 10).
      const cont = evalSpan(long.cache, 10, 5);
      const empty2 = map.emptyCache(4);
      const fresh = evalSpan(empty2, 0, 15);
      const tail = (t: tf.Tensor) => tf.slice(t, [0, 10, 0], [-1, 5, -1]);
      const [fl, fs] = [tail(fresh.params.logScale), tail(fresh.params.shift)];
      expect(relErr(cont.params.logScale, fl)).toBe(0);
      expect(relErr(cont.params.shift, fs)).toBe(0);
      // And the truncated branch equals a fresh evaluation of its own inputs.
      const s6 = span(0, 6);
      const mixed = tf.concat([s6, shifted], 1) as PatchSeq;
      const empty3 = map.emptyCache(4);
      const freshMixed = map.evaluate(mixed, 0, empty3);
      const last3 = (t: tf.Tensor) => tf.slice(t, [0, 6, 0], [-1, 3, -1]);
      const [ml, ms] = [last3(freshMixed.params.logScale), last3(freshMixed.params.shift)];
      expect(relErr(r1.params.logScale, ml)).toBe(0);
      expect(relErr(r1.params.shift, ms)).toBe(0);
      for (const c of [empty, empty2, empty3, long.cache, short, r1.cache, cont.cache, fresh.cache, freshMixed.cache]) map.disposeCache(c);
      for (const p of [r1.params, cont.params, fresh.params, freshMixed.params]) disposeParams(p);
      tf.dispose([other, shifted, fl, fs, s6, mixed, ml, ms]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('rejects a cache that does not start where the evaluation does, or of another batch', () => {
      const c = map.emptyCache(4);
      const s = span(2, 1);
      expect(() => map.evaluate(s, 2, c)).toThrow(/starts at 2/);
      const c2 = map.emptyCache(2);
      const s0 = span(0, 1);
      expect(() => map.evaluate(s0, 0, c2)).toThrow(/batch of 2/);
      map.disposeCache(c);
      map.disposeCache(c2);
      expect(() => map.evaluate(s0, 0, c)).toThrow(/disposed/);
      tf.dispose([s, s0]);
    });
  });
});
