import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededNoise, tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { parseSafetensors } from '@tarflow/checkpoint';
import { cycleLabels, loadModel, numTokens } from '@tarflow/model';
import { loadClassifier } from '@tarflow/classifier';
import { FASHION_MNIST_CLASSES, fashionMnistStatus, loadFashionMnist, loadMnist } from '@tarflow/data';
import {
  classifierBytes,
  classifierUrl,
  DEFAULT_MODEL_NAME,
  DEFAULT_MODEL_SAMPLING,
  defaultModelBytes,
  defaultModelUrl,
  modelBytes,
  readAsset,
  ZOO_MODELS,
  zooModel,
  zooModelNames,
} from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('@tarflow/zoo assets', () => {
  it('resolves the asset URLs to files in assets/', () => {
    expect(existsSync(fileURLToPath(defaultModelUrl))).toBe(true);
    expect(existsSync(fileURLToPath(classifierUrl))).toBe(true);
    for (const m of ZOO_MODELS) {
      expect(existsSync(fileURLToPath(m.modelUrl)), m.name).toBe(true);
      expect(existsSync(fileURLToPath(m.classifierUrl)), m.name).toBe(true);
    }
  });

  it('ships a class-conditional MNIST TarFlow of at most 10 MB with at least 49 tokens and 4 blocks', async () => {
    const bytes = await defaultModelBytes();
    expect(bytes.length).toBeLessThanOrEqual(10 * 1024 * 1024);
    const model = loadModel(bytes);
    expect(model.config.num_classes).toBe(10);
    expect(model.config.img_size).toBe(28);
    expect(numTokens(model.config)).toBeGreaterThanOrEqual(49);
    expect(model.config.num_blocks).toBeGreaterThanOrEqual(4);
    expect(Number(parseSafetensors(bytes).metadata.train_step)).toBeGreaterThan(0);
    model.dispose();
  });

  it('records its recommended sampling settings in the file, as DEFAULT_MODEL_SAMPLING states them', async () => {
    const model = loadModel(await defaultModelBytes());
    expect(model.recommended).toEqual(DEFAULT_MODEL_SAMPLING);
    model.dispose();
  });

  it('ships an MNIST classifier that scores at least 97% on the held-out digits', async () => {
    const classifier = loadClassifier(await classifierBytes());
    const test = loadMnist({ split: 'test' });
    expect(test.count).toBe(1000);
    expect(classifier.accuracy(test.images, test.labels)).toBeGreaterThanOrEqual(0.97);
    classifier.dispose();
  });

  it('names the asset when it cannot be read', async () => {
    await expect(readAsset(new URL('../assets/missing.safetensors', import.meta.url))).rejects.toThrow(/cannot read asset file:.*missing\.safetensors/);
  });
});

describe('the zoo of models', () => {
  it('lists mnist (the default) and fashion-mnist, each with ten class names', () => {
    expect(zooModelNames()).toEqual(['mnist', 'fashion-mnist']);
    expect(DEFAULT_MODEL_NAME).toBe('mnist');
    expect(zooModel('mnist').modelUrl.href).toBe(defaultModelUrl.href);
    expect(zooModel('mnist').sampling).toBe(DEFAULT_MODEL_SAMPLING);
    expect(zooModel('fashion-mnist').classNames).toEqual(FASHION_MNIST_CLASSES);
    for (const m of ZOO_MODELS) expect(m.classNames).toHaveLength(10);
  });

  it('refuses an unknown name in one line that lists the names', () => {
    expect(() => zooModel('cifar')).toThrow(/^unknown zoo model 'cifar': expected one of mnist, fashion-mnist$/);
  });

  it('reads the default model and classifier by name as the old exports do', async () => {
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
    expect(same(await modelBytes(), await defaultModelBytes())).toBe(true);
    expect(same(await classifierBytes('mnist'), await classifierBytes())).toBe(true);
    expect(same(await classifierBytes('fashion-mnist'), await classifierBytes())).toBe(false);
  });

  const fashion = fashionMnistStatus();
  it.skipIf(!fashion.available)(`ships a Fashion-MNIST classifier that scores at least 85% on the first 2,000 held-out images${fashion.available ? '' : ` (SKIPPED: no Fashion-MNIST in ${fashion.dir})`}`, async () => {
    const classifier = loadClassifier(await classifierBytes('fashion-mnist'));
    const test = loadFashionMnist({ split: 'test', limit: 2000 });
    expect(classifier.accuracy(test.images, test.labels)).toBeGreaterThanOrEqual(0.85);
    classifier.dispose();
  });

  /**
   * Per model, the share of samples its classifier reads as the requested
   * class must stay at or above this bar (a regression guard, set below the
   * shipped model's measurement on these 60 samples; docs/training.md has the
   * 1,000-sample figures).
   */
  const BARS: Record<string, { bar: number; measured: string }> = {
    mnist: { bar: 0.9, measured: '58 of 60 at step 13,400, guidance 1 (98.9% on 1,000 samples); 59 at step 12,400, guidance 1.25; 59 at step 11,400; 60 at step 10,400, guidance 1.25; 59 at step 9,200, guidance 3' },
    'fashion-mnist': { bar: 0.7, measured: '50 of 60 at step 3,600 (82.5% on 1,000 samples); 39 at step 1,600' },
  };

  describe.each(ZOO_MODELS.map((m) => [m.name, m] as const))('%s', (name, zoo) => {
    it('records the zoo\'s recommended sampling settings in its file, with train_step', async () => {
      const bytes = await modelBytes(name);
      expect(bytes.length).toBeLessThanOrEqual(10 * 1024 * 1024);
      expect(Number(parseSafetensors(bytes).metadata.train_step)).toBeGreaterThan(0);
      const model = loadModel(bytes);
      expect(model.config.num_classes).toBe(zoo.classNames.length);
      expect(model.recommended).toEqual(zoo.sampling);
      model.dispose();
    });

    it(`sampled exactly at its recommended settings, draws the requested classes (at least ${100 * BARS[name].bar}%: ${BARS[name].measured})`, async () => {
      const model = loadModel(await modelBytes(name));
      const classifier = loadClassifier(await classifierBytes(name));
      const n = 60;
      const K = zoo.classNames.length;
      const noise = seededNoise(11, Array.from({ length: n }, (_, i) => i), model.tokens, model.patchDim);
      const labels = tf.tensor1d(cycleLabels(n, K), 'int32');
      const { guidance, temperature, denoise } = model.recommended!;
      const before = tf.memory().numTensors;
      const r = await model.sampleAsync(noise, { labels, guidance, temperature }); // the exact sequential sampler
      expect(r.report.depth).toBe(model.blocks.length * (model.tokens - 1));
      const images = denoise ? model.denoise(r.images, labels) : r.images;
      expect(images.shape).toEqual([n, 1, 28, 28]);
      const values = await images.data();
      expect(values.every((v) => Number.isFinite(v))).toBe(true);
      const classes = tf.tidy(() => tf.argMax(classifier.classify(images), 1));
      const predicted = Array.from(await classes.data());
      classes.dispose();
      const hits = predicted.reduce((s, p, i) => s + (p === i % K ? 1 : 0), 0);
      tf.dispose([r.images, images]);
      expect(tf.memory().numTensors).toBe(before);
      expect(hits / n).toBeGreaterThanOrEqual(BARS[name].bar);
      tf.dispose([noise, labels]);
      model.dispose();
      classifier.dispose();
    });
  });
});
