import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { parseSafetensors } from '@tarflow/checkpoint';
import { loadModel, numTokens } from '@tarflow/model';
import { loadClassifier } from '@tarflow/metrics';
import { loadMnist } from '@tarflow/data';
import { classifierBytes, classifierUrl, defaultModelBytes, defaultModelUrl, readAsset } from '../src/index.js';

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
