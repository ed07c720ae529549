import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededNoise, tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { parseSafetensors } from '@tarflow/checkpoint';
import { cycleLabels, loadModel, numTokens } from '@tarflow/model';
import { loadClassifier } from '@tarflow/classifier';
import { loadMnist } from '@tarflow/data';
import { classifierBytes, classifierUrl, DEFAULT_MODEL_SAMPLING, defaultModelBytes, defaultModelUrl, readAsset } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('@tarflow/zoo assets', () => {
  it('resolves the asset URLs to files in assets/', () => {
    expect(existsSync(fileURLToPath(defaultModelUrl))).toBe(true);
    expect(existsSync(fileURLToPath(classifierUrl))).toBe(true);
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

  it('the default model, sampled as its file recommends, draws the requested digits (a regression guard; docs/training.md has the 1,000-sample figure)', async () => {
    const model = loadModel(await defaultModelBytes());
    const classifier = loadClassifier(await classifierBytes());
    const n = 60;
    const noise = seededNoise(11, Array.from({ length: n }, (_, i) => i), model.tokens, model.patchDim);
    const labels = tf.tensor1d(cycleLabels(n, 10), 'int32');
    const { guidance, temperature, denoise } = model.recommended!;
    const before = tf.memory().numTensors;
    const r = await model.sampleAsync(noise, { labels, guidance, temperature });
    const images = denoise ? model.denoise(r.images, labels) : r.images;
    const classes = tf.tidy(() => tf.argMax(classifier.classify(images), 1));
    const predicted = Array.from(classes.dataSync());
    classes.dispose();
    const hits = predicted.reduce((s, p, i) => s + (p === i % 10 ? 1 : 0), 0);
    tf.dispose([r.images, images]);
    expect(tf.memory().numTensors).toBe(before);
    expect(hits / n).toBeGreaterThanOrEqual(0.85); // 58 of 60 when the step-6,000 model shipped
    tf.dispose([noise, labels]);
    model.dispose();
    classifier.dispose();
  });

  it('names the asset when it cannot be read', async () => {
    await expect(readAsset(new URL('../assets/missing.safetensors', import.meta.url))).rejects.toThrow(/cannot read asset file:.*missing\.safetensors/);
  });
});
