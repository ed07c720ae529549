/**
 * Property tests of the solvers on random small TarFlow models: every
 * iterative solver, run to convergence, is the exact inverse, and GS-Jacobi's
 * key/value caching changes nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import { moduleBounds, solveBlock, type CausalAffineMap } from '@tarflow/solvers';
import { TarFlow, type TarFlowConfig } from '../src/index.js';
import { useBackend } from './helpers.js';

const backend = process.env.TARFLOW_PROPERTY_BACKEND ?? 'wasm';

const configArb = fc.record({
  in_channels: fc.constantFrom(1, 2),
  grid: fc.constantFrom(2, 3, 4), // tokens = grid²
  patch_size: fc.constantFrom(1, 2),
  num_blocks: fc.integer({ min: 1, max: 3 }),
  num_classes: fc.constantFrom(0, 3),
  seed: fc.integer({ min: 1, max: 1_000_000 }), // tfjs draws afresh for seed 0: a test would not repeat
});

/** A random model whose blocks are not the identity (proj_out is zero at init). */
function randomModel(p: { in_channels: number; grid: number; patch_size: number; num_blocks: number; num_classes: number; seed: number }): TarFlow {
  const config: TarFlowConfig = {
    in_channels: p.in_channels,
    img_size: p.grid * p.patch_size,
    patch_size: p.patch_size,
    channels: 32,
    num_blocks: p.num_blocks,
    layers_per_block: 1,
    num_classes: p.num_classes,
    noise_std: 0.1,
    head_dim: 16,
    expansion: 2,
    nvp: true,
  };
  const m = TarFlow.init(config, p.seed);
  m.blocks.forEach((b, i) => {
    b.projOut.weight.assign(tf.randomNormal(b.projOut.weight.shape, 0, 0.08, 'float32', p.seed + i));
    b.projOut.bias.assign(tf.randomNormal(b.projOut.bias.shape, 0, 0.05, 'float32', p.seed + 100 + i));
  });
  return m;
}

/** GS-Jacobi without any key/value reuse: every iteration recomputes the whole prefix. */
function recomputedGsJacobi(map: CausalAffineMap<any>, z: PatchSeq, modules: number, iterations: number): tf.Tensor {
  const T = map.tokens;
  let x: tf.Tensor = tf.clone(z);
  for (const [a, b] of moduleBounds(T, modules)) {
    for (let it = 0; it < iterations; it++) {
      const next = tf.tidy(() => {
        const empty = map.emptyCache(z.shape[0]);
        const r = map.evaluate(tf.slice(x, [0, 0, 0], [-1, b, -1]) as PatchSeq, 0, empty);
        map.disposeCache(r.cache);
        const rows = b - a + 1;
        const la = tf.slice(r.params.logScale, [0, a - 1, 0], [-1, rows, -1]);
        const sh = tf.slice(r.params.shift, [0, a - 1, 0], [-1, rows, -1]);
        const upd = tf.add(tf.mul(tf.exp(la), tf.slice(z, [0, a, 0], [-1, rows, -1])), sh);
        const parts = [tf.slice(x, [0, 0, 0], [-1, a, -1]), upd];
        if (b + 1 < T) parts.push(tf.slice(x, [0, b + 1, 0], [-1, T - b - 1, -1]));
        return tf.concat(parts, 1);
      });
      x.dispose();
      x = next;
    }
  }
  return x;
}

describe(`solver properties on random TarFlow models (${backend})`, () => {
  beforeAll(async () => useBackend(backend));

  it('Jacobi with T−1 iterations and GS-Jacobi with T−1 one-iteration modules equal the sequential inverse', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 1, max: 3 }), (p, B) => {
        const m = randomModel(p);
        const T = m.tokens;
        const noise = tf.randomNormal([B, T, m.patchDim], 0, 1, 'float32', p.seed) as PatchSeq;
        const labels = p.num_classes ? tf.tensor1d(Array.from({ length: B }, (_, i) => (i % 4) - 1), 'int32') : undefined;
        const guidance = p.num_classes ? { scale: 0.5, annealed: p.seed % 2 === 0 } : undefined;
        const seq = m.sample(noise, { labels, guidance });
        const all = (s: any) => m.blocks.map(() => s);
        const jac = m.sample(noise, { labels, guidance, strategy: all({ kind: 'jacobi', modules: 1, maxIterations: T - 1 }) });
        const gs = m.sample(noise, { labels, guidance, strategy: all({ kind: 'jacobi', modules: T - 1, maxIterations: 1 }) });
        const scale = Math.max(1, tf.max(tf.abs(seq.images)).dataSync()[0]);
        expect(maxAbsDiff(jac.images, seq.images)).toBeLessThan(1e-4 * scale);
        expect(maxAbsDiff(gs.images, seq.images)).toBeLessThan(1e-4 * scale);
        expect(gs.report.depth).toBe(seq.report.depth);
        tf.dispose([noise, labels ?? [], seq.images, jac.images, gs.images]);
        m.dispose();
      }),
      { numRuns: 8, seed: 7 },
    );
  });

  it('with a tolerance, the early-stopped result is within it of the exact one', () => {
    fc.assert(
      fc.property(configArb, fc.constantFrom(1e-2, 1e-3, 1e-4), (p, tol) => {
        const m = randomModel({ ...p, num_blocks: 1, grid: 4 });
        const map = m.blockMap(0);
        const z = tf.randomNormal([2, m.tokens, m.patchDim], 0, 1, 'float32', p.seed) as PatchSeq;
        const exact = solveBlock(map, z, { kind: 'sequential' });
        const r = solveBlock(map, z, { kind: 'jacobi', modules: 1, maxIterations: 100, tolerance: tol });
        expect(maxAbsDiff(r.x, exact.x)).toBeLessThanOrEqual(tol);
        tf.dispose([z, exact.x, r.x]);
        m.dispose();
      }),
      { numRuns: 8, seed: 11 },
    );
  });

  it('GS-Jacobi with cached modules gives the same result as recomputing every prefix', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 3 }), (p, G, iters) => {
        const m = randomModel({ ...p, grid: 4 });
        const map = m.blockMap(0);
        const z = tf.randomNormal([2, m.tokens, m.patchDim], 0, 1, 'float32', p.seed) as PatchSeq;
        const cached = solveBlock(map, z, { kind: 'jacobi', modules: G, maxIterations: iters });
        const recomputed = recomputedGsJacobi(map, z, G, Math.min(iters, 15));
        expect(maxAbsDiff(cached.x, recomputed)).toBeLessThan(1e-4);
        tf.dispose([z, cached.x, recomputed]);
        m.dispose();
      }),
      { numRuns: 8, seed: 3 },
    );
  });
});
