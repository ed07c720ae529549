import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors } from '@tarflow/checkpoint';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { TarFlow, cycleLabels, denoiseInParts, loadModel, sampleInChunks, saveModel, scaleNoise } from '../src/index.js';
import { useBackend } from './helpers.js';

const CONFIG = { in_channels: 1, img_size: 8, patch_size: 2, channels: 16, num_blocks: 2, layers_per_block: 1, num_classes: 3, noise_std: 0.1, head_dim: 8, expansion: 2, nvp: true };

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('the sampling pipeline', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('cpu');
    model = TarFlow.init(CONFIG, 5);
  });
  afterAll(() => model.dispose());

  it('scaleNoise is noise × √priorVar × temperature', () => {
    tf.tidy(() => model.priorVar.assign(tf.fill([model.tokens, model.patchDim], 4)));
    const noise = tf.randomNormal([2, model.tokens, model.patchDim], 0, 1, 'float32', 1) as PatchSeq;
    const before = tf.memory().numTensors;
    const z = scaleNoise(model, noise, 0.3);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(maxDiff(z, noise)).toBeGreaterThan(0);
    expect(tf.tidy(() => maxDiff(z, tf.mul(noise, 2 * 0.3)))).toBeLessThan(1e-6);
    tf.tidy(() => model.priorVar.assign(tf.ones([model.tokens, model.patchDim])));
    tf.dispose([z, noise]);
  });

  it('cycleLabels cycles through K classes or a list, from an offset', () => {
    expect(Array.from(cycleLabels(7, 3))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(Array.from(cycleLabels(5, [4, 9]))).toEqual([4, 9, 4, 9, 4]);
    expect(Array.from(cycleLabels(4, 3, 2))).toEqual([2, 0, 1, 2]);
    expect(() => cycleLabels(2, 0)).toThrow(/no classes/);
  });

  it('sampleInChunks gives the images of one sample call, chunk by chunk, with flat memory; denoising in parts equals one step', () => {
    const n = 5;
    const all = tf.randomNormal([n, model.tokens, model.patchDim], 0, 1, 'float32', 9) as PatchSeq;
    const labels = cycleLabels(n, 3);
    const noiseOf = (a: number, b: number) => tf.slice(all, a, b - a) as PatchSeq;
    const before = tf.memory().numTensors;
    const run = sampleInChunks(model, n, noiseOf, { chunk: 2, labels, temperature: 0.8, trace: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(run.shape).toEqual([n, 1, 8, 8]);
    expect(run.reports).toHaveLength(3);
    expect(run.report.blocks).toHaveLength(2);
    const lt = tf.tensor1d(labels, 'int32');
    const whole = model.sample(all, { labels: lt, temperature: 0.8, trace: true });
    expect(maxDiff(tf.tensor(run.images, run.shape), whole.images)).toBeLessThan(1e-5);
    // The trace is sample-major: sample i's images after each block (noise first).
    const steps = model.blocks.length + 1;
    const traced = tf.tensor(run.trace!, [n, steps, 1, 8, 8]);
    whole.trace!.forEach((t, s) => expect(tf.tidy(() => maxDiff(tf.squeeze(tf.slice(traced, [0, s], [-1, 1]), [1]), t))).toBeLessThan(1e-5));

    const denoised = sampleInChunks(model, n, noiseOf, { chunk: 5, labels, temperature: 0.8, denoise: true });
    const once = model.denoise(whole.images, lt);
    const parts = denoiseInParts(model, whole.images, lt, 2);
    expect(maxDiff(parts, once)).toBeLessThan(1e-5);
    expect(maxDiff(tf.tensor(denoised.images, denoised.shape), once)).toBeLessThan(1e-5);
    tf.dispose([all, lt, whole.images, ...whole.trace!, traced, once, parts]);
    expect(() => sampleInChunks(model, n, noiseOf, { chunk: 0 })).toThrow(/chunk must be a positive integer/);
    expect(() => sampleInChunks(model, n, noiseOf, { chunk: 2, labels: cycleLabels(3, 3) })).toThrow(/expected 5 labels/);
  });

  it('recommended sampling settings travel in the file, validated when present', () => {
    expect(model.recommended).toBeUndefined();
    const plain = loadModel(saveModel(model));
    expect(plain.recommended).toBeUndefined();
    expect(parseSafetensors(saveModel(plain)).metadata.sampling).toBeUndefined();
    plain.dispose();

    const settings = { guidance: { scale: 2, on: 'alpha' as const, annealed: true, attnTemp: 0.9 }, temperature: 0.7, denoise: true };
    model.recommended = settings;
    const bytes = saveModel(model, { train_step: '12' });
    model.recommended = undefined;
    const file = parseSafetensors(bytes);
    expect(JSON.parse(file.metadata.sampling)).toEqual(settings);
    expect(file.metadata.train_step).toBe('12');
    const again = loadModel(bytes);
    expect(again.recommended).toEqual(settings);
    again.dispose();

    const before = tf.memory().numTensors;
    const withSampling = (sampling: string) => serializeSafetensors(file.tensors, { ...file.metadata, sampling });
    expect(() => loadModel(withSampling('{"temperature": 0}'))).toThrow(/metadata 'sampling' is invalid: temperature must be a positive number/);
    expect(() => loadModel(withSampling('{"guidance": {"scale": 1, "on": "beta"}}'))).toThrow(/guidance.on must be/);
    expect(() => loadModel(withSampling('{"temprature": 1}'))).toThrow(/unknown key "temprature"/);
    expect(() => loadModel(withSampling('not json'))).toThrow(/metadata 'sampling' is not valid JSON/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('init keeps only the variables it returns', () => {
    const before = tf.memory().numTensors;
    const m = TarFlow.init(CONFIG, 1);
    // The trainable variables, the prior variance and one attention mask per block.
    expect(tf.memory().numTensors - before).toBe(m.trainableVariables().length + 1 + m.blocks.length);
    m.dispose();
  });
});

describe('guided sampling', () => {
  let model: TarFlow;
  beforeAll(async () => {
    await useBackend('cpu');
    model = TarFlow.init(CONFIG, 7);
  });
  afterAll(() => model.dispose());

  it('the guided map (one doubled pass) equals guiding the two branches evaluated apart', () => {
    const guidance = { scale: 1.5, on: 'both' as const, annealed: true, attnTemp: 0.8 };
    const x = tf.randomNormal([2, model.tokens, model.patchDim], 0, 1, 'float32', 3) as PatchSeq;
    const labels = tf.tensor1d([0, 2], 'int32');
    const before = tf.memory().numTensors;
    const guided = model.samplingMap(1, labels, guidance, 'plain');
    const cond = model.blockMap(1, { labels });
    const uncond = model.blockMap(1, { labels: tf.tensor1d([-1, -1], 'int32'), attnTemp: 0.8 });
    const g = guided.evaluate(x, 0, guided.emptyCache(2));
    const c = cond.evaluate(x, 0, cond.emptyCache(2));
    const u = uncond.evaluate(x, 0, uncond.emptyCache(2));
    const T = model.tokens;
    const w = tf.tidy(() => tf.mul(tf.reshape(tf.range(1, T + 1), [1, T, 1]), guidance.scale / (T - 1)));
    const expected = tf.tidy(() => tf.add(c.params.shift, tf.mul(w, tf.sub(c.params.shift, u.params.shift))));
    expect(maxDiff(g.params.shift, expected)).toBeLessThan(1e-5);
    for (const [m, r] of [[guided, g], [cond, c], [uncond, u]] as const) {
      (m.disposeCache as (cache: unknown) => void)(r.cache);
      tf.dispose([r.params.logScale, r.params.shift]);
    }
    tf.dispose([w, expected]);
    expect(tf.memory().numTensors).toBe(before + 1); // the −1 labels made above
    tf.dispose([x, labels]);
  });
});
