/**
 * The joint solve of all blocks: the stacked evaluation of every block at once
 * equals each block's own map, and joint Jacobi run long enough is the exact
 * sequential sampler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, maxAbsDiff, type PatchSeq } from '@tarflow/tensor';
import { disposeParams } from '@tarflow/solvers';
import { loadModel, type TarFlow } from '../src/index.js';
import { ENGINES, expectedTensor, loadFixture, useBackend } from './helpers.js';

describe('joint solve of all blocks (wasm)', () => {
  let model: TarFlow;
  let noise: tf.Tensor3D;
  let labels: tf.Tensor1D;
  let noiseAll: tf.Tensor3D;
  let labelsAll: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('wasm');
    const f = loadFixture('tiny-cond');
    model = loadModel(f.checkpoint);
    noise = expectedTensor(f, 'noise') as tf.Tensor3D;
    labels = tf.tidy(() => {
      // Some unconditional samples (−1) among the labelled ones.
      const l = expectedTensor(f, 'labels') as tf.Tensor1D;
      return tf.where(tf.equal(tf.mod(tf.range(0, l.shape[0], 1, 'int32'), 3), 0), tf.fill(l.shape, -1, 'int32'), l) as tf.Tensor1D;
    });
    noiseAll = noise;
    labelsAll = labels;
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([noise, labels]);
  });

  for (const guidance of [undefined, { scale: 1.5, annealed: true, attnTemp: 0.9 }, { scale: 2, on: 'gamma' as const }]) {
    it(`the stacked evaluation equals every block's own map (guidance ${JSON.stringify(guidance ?? null)})`, () => {
      const L = model.blocks.length;
      const T = model.tokens;
      const chain = model.samplingChain(labels, guidance, 'plain');
      const xs = Array.from({ length: L }, (_, k) => tf.randomNormal(noise.shape, 0, 1, 'float32', 5 + k) as PatchSeq);
      for (const from of [0, L - 1]) {
        const stacked = chain.evaluateFrom(from, xs.slice(from));
        stacked.forEach((p, i) => {
          const map = model.samplingMap(L - 1 - (from + i), labels, guidance);
          const empty = map.emptyCache(noise.shape[0]);
          const head = tf.slice(xs[from + i], [0, 0, 0], [-1, T - 1, -1]) as PatchSeq;
          const r = map.evaluate(head, 0, empty);
          expect(maxAbsDiff(p.logScale, r.params.logScale)).toBeLessThan(1e-4);
          expect(maxAbsDiff(p.shift, r.params.shift)).toBeLessThan(1e-4);
          map.disposeCache(empty);
          map.disposeCache(r.cache);
          disposeParams(r.params);
          disposeParams(p);
          head.dispose();
        });
      }
      tf.dispose(xs);
      chain.dispose();
    });
  }

  // Asynchronous sampling lets the test worker's event loop run during the long solves.
  it.each(ENGINES)('is the exact sampler after blocks × (T − 1) joint iterations, with depth = joint iterations (engine %s)', async (engine) => {
    // Two samples keep the 140 joint iterations short; the code paths are the same.
    const noise = tf.slice(noiseAll, 0, 2) as tf.Tensor3D;
    const labels = tf.slice(labelsAll, 0, 2) as tf.Tensor1D;
    const guidance = { scale: 1.5, annealed: true, attnTemp: 0.9 };
    const seq = model.sample(noise, { labels, guidance, temperature: 0.8, engine: 'plain' });
    const L = model.blocks.length;
    const full = await model.sampleAsync(noise, { labels, guidance, temperature: 0.8, engine, strategy: { kind: 'joint', maxIterations: L * (model.tokens - 1) } });
    expect(full.report.engine.name).toBe(engine);
    expect(maxAbsDiff(full.images, seq.images)).toBeLessThan(1e-4);
    expect(full.report.joint?.iterations).toBe(full.report.depth);
    expect(full.report.sequentialDepth).toBe(seq.report.depth);
    const loose = await model.sampleAsync(noise, { labels, guidance, temperature: 0.8, engine, strategy: { kind: 'joint', maxIterations: 100, tolerance: 1e-4 } });
    expect(loose.report.depth).toBeLessThan(seq.report.depth);
    expect(maxAbsDiff(loose.images, seq.images)).toBeLessThan(1e-2);
    tf.dispose([seq.images, full.images, loose.images, noise, labels]);
  });

  it('takes a per-class guess table and checks it fits the model', async () => {
    const noise = tf.slice(noiseAll, 1, 2) as tf.Tensor3D;
    const labels = tf.slice(labelsAll, 1, 2) as tf.Tensor1D;
    const T = model.tokens;
    const D = model.patchDim;
    const rows = model.config.num_classes + 1;
    const table = { rows, tokens: T, dim: D, data: new Array(rows * T * D).fill(0.1) };
    const seq = model.sample(noise, { labels });
    const r = await model.sampleAsync(noise, { labels, strategy: { kind: 'joint', maxIterations: model.blocks.length * (T - 1), guess: 'table' }, guessTable: table });
    expect(maxAbsDiff(r.images, seq.images)).toBeLessThan(1e-4);
    const bad = { rows, tokens: T + 1, dim: D, data: new Array(rows * (T + 1) * D).fill(0) };
    expect(() => model.sample(noise, { labels, strategy: { kind: 'joint', maxIterations: 3, guess: 'table' }, guessTable: bad })).toThrow(/guess table is for/);
    expect(() => model.sample(noise, { labels, strategy: { kind: 'joint', maxIterations: 3, guess: 'table' } })).toThrow(/guess 'table' needs the guessTable option/);
    expect(() => model.sample(noise, { labels, trace: true, strategy: { kind: 'joint', maxIterations: 3 } })).toThrow(/no per-block trace/);
    tf.dispose([seq.images, r.images, noise, labels]);
  });

  it('onJointIteration: residuals every iteration, images only when asked (the final iterate is the sample), memory flat', () => {
    const noise = tf.slice(noiseAll, 0, 2) as tf.Tensor3D;
    const labels = tf.slice(labelsAll, 0, 2) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    let last: Float32Array | null = null;
    const r = model.sample(noise, {
      labels,
      strategy: { kind: 'joint', maxIterations: 4 },
      onJointIteration: (n, residuals, images) => {
        seen.push(n);
        expect(residuals.length).toBeGreaterThan(0);
        if (n === 4) last = images().dataSync() as Float32Array;
      },
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(Array.from(last!)).toEqual(Array.from(r.images.dataSync()));
    r.images.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([noise, labels]);
  });

  it('a pass large enough to run its MLP in slices gives the same parameters as each block alone', () => {
    // 64 guided samples: the stacked hidden activation is 4 blocks × 128 rows × (T − 1) × 4C floats, over the slice size.
    const L = model.blocks.length;
    const T = model.tokens;
    const B = 64;
    const guidance = { scale: 2 };
    const labels64 = tf.tensor1d(Array.from({ length: B }, (_, i) => i % model.config.num_classes), 'int32');
    const chain = model.samplingChain(labels64, guidance, 'plain');
    const xs = Array.from({ length: L }, (_, k) => tf.randomNormal([B, T, model.patchDim], 0, 1, 'float32', 40 + k) as PatchSeq);
    const stacked = chain.evaluateFrom(0, xs);
    stacked.forEach((p, i) => {
      const map = model.samplingMap(L - 1 - i, labels64, guidance);
      const empty = map.emptyCache(B);
      const head = tf.slice(xs[i], [0, 0, 0], [-1, T - 1, -1]) as PatchSeq;
      const r = map.evaluate(head, 0, empty);
      expect(maxAbsDiff(p.shift, r.params.shift)).toBeLessThan(1e-4);
      expect(maxAbsDiff(p.logScale, r.params.logScale)).toBeLessThan(1e-4);
      map.disposeCache(r.cache);
      disposeParams(r.params);
      disposeParams(p);
      head.dispose();
    });
    tf.dispose([...xs, labels64]);
    chain.dispose();
  });
});
