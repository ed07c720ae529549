import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { runAsync, solveBlockSteps, type BlockStrategy } from '@tarflow/solvers';
import { loadModel, type SampleOptions, type TarFlow } from '../src/index.js';
import { BACKENDS, defaultModelBytes, relErr, useBackend } from './helpers.js';
import '@tensorflow/tfjs-backend-cpu';

/** Guidance on α and γ at a strong scale (3: the default model's recommended scale up to its step-9,200 weights). */
const GUIDANCE = { scale: 3, on: 'both' as const };
const TOL = 1e-5;
/** The reference fixtures' float32 tolerance (shared/fixtures/reference/*.json). */
const FIXTURE_TOL = 1e-4;
const SEQUENTIAL: BlockStrategy = { kind: 'sequential' };

describe.each(BACKENDS)('the default model on %s', (backend) => {
  let model: TarFlow;
  let labels: tf.Tensor1D;
  let noise: PatchSeq;
  beforeAll(async () => {
    await useBackend(backend);
    model = loadModel(defaultModelBytes());
    labels = tf.tensor1d([7, -1], 'int32');
    noise = tf.tidy(() => tf.mul(tf.randomNormal([2, model.tokens, model.patchDim], 0, 1, 'float32', 5), 0.5)) as PatchSeq;
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([labels, noise]);
  });

  it.each([
    ['guided', GUIDANCE],
    ['unguided', undefined],
  ] as const)('%s: every block evaluated over all positions, the fused engine matches the plain one', (_, guidance) => {
    for (let k = 0; k < model.blocks.length; k++) {
      const plain = model.samplingMap(k, labels, guidance, 'plain');
      const fused = model.samplingMap(k, labels, guidance, 'fused');
      const z = model.permuteForBlock(k, noise);
      const a = plain.evaluate(z, 0, plain.emptyCache(2));
      const b = fused.evaluate(z, 0, fused.emptyCache(2));
      expect(relErr(b.params.logScale, a.params.logScale)).toBeLessThanOrEqual(TOL);
      expect(relErr(b.params.shift, a.params.shift)).toBeLessThanOrEqual(TOL);
      plain.disposeCache(a.cache);
      fused.disposeCache(b.cache);
      tf.dispose([z, a.params.logScale, a.params.shift, b.params.logScale, b.params.shift]);
    }
  });

  /**
   * Guided sequential sampling through all four blocks amplifies float32
   * rounding: the plain path itself differs between the cpu and wasm backends
   * by ~4.5e-5 here, so the whole chain is held to the reference fixtures'
   * float32 tolerance (1e-4 relative to max(1, |x|)), each block's map to 1e-5.
   */
  it("guided sequential sampling through every block: the engine 'fused' maps match the 'plain' ones at the fixtures' float32 tolerance", async () => {
    // Both engines invert the blocks in sampling order from the same latent.
    const run = async (engine: 'plain' | 'fused') => {
      let x = tf.clone(noise) as PatchSeq;
      for (let k = model.blocks.length - 1; k >= 0; k--) {
        const z = model.permuteForBlock(k, x);
        x.dispose();
        const r = await runAsync(solveBlockSteps(model.samplingMap(k, labels, GUIDANCE, engine), z, SEQUENTIAL));
        z.dispose();
        x = model.permuteForBlock(k, r.x);
        r.x.dispose();
      }
      return x;
    };
    const plain = await run('plain');
    const fused = await run('fused');
    expect(relErr(fused, plain)).toBeLessThanOrEqual(FIXTURE_TOL);
    tf.dispose([plain, fused]);
  });

  it("model.sample reports the engine it used: 'auto' and 'fused' run the fused kernels here, 'plain' the plain ops", async () => {
    const options: SampleOptions = { labels, strategy: model.blocks.map((_, k) => (k === 0 ? SEQUENTIAL : { kind: 'jacobi', modules: 1, maxIterations: 1 })) };
    for (const engine of ['auto', 'fused', 'plain'] as const) {
      const r = await model.sampleAsync(noise, { ...options, engine });
      expect(r.report.engine).toEqual({ name: engine === 'plain' ? 'plain' : 'fused' });
      r.images.dispose();
    }
  });

  it('model.sample on the fused engine dispatches at most 25 kernels per sequential block-step (tf.profile)', async () => {
    const steps = model.blocks.length * (model.tokens - 1);
    const perStep = async (engine: 'plain' | 'fused') => {
      const info = await tf.profile(
        () =>
          model.sampleAsync(noise, { labels, guidance: GUIDANCE, engine }).then((r) => {
            r.images.dispose();
            return [] as tf.Tensor[];
          }) as unknown as tf.TensorContainer,
      );
      return info.kernels.length / steps;
    };
    const fused = await perStep('fused');
    const plain = await perStep('plain');
    expect(fused).toBeLessThanOrEqual(25);
    expect(fused).toBeLessThan(plain);
  });

  it("repeated solves on the fused engine leave the tensor count, and the backend's own buffers, unchanged", async () => {
    const map = model.samplingMap(0, labels, GUIDANCE, 'fused');
    const counts: number[] = [];
    const buffers: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runAsync(solveBlockSteps(map, noise, i === 1 ? { kind: 'jacobi', modules: 4, maxIterations: 3 } : SEQUENTIAL));
      r.x.dispose();
      counts.push(tf.memory().numTensors);
      buffers.push(tf.engine().backend.numDataIds());
    }
    expect(new Set(counts).size).toBe(1);
    expect(new Set(buffers).size).toBe(1);
  });
});
