import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@tarflow/backends';
import { loadDataset } from '@tarflow/data';
import { loadClassifier, saveClassifier } from '@tarflow/classifier';
import { randomShift, trainClassifier } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('randomShift', () => {
  it('moves the digit by at most s pixels and fills with background', () => {
    const img = new Float32Array(784).fill(-1);
    img[14 * 28 + 14] = 1;
    const out = randomShift(img, 1, 2, 5);
    const at = out.indexOf(1);
    expect(Math.abs(Math.floor(at / 28) - 14)).toBeLessThanOrEqual(2);
    expect(Math.abs((at % 28) - 14)).toBeLessThanOrEqual(2);
    expect(out.filter((v) => v === -1).length).toBe(783);
    expect(randomShift(img, 1, 0, 5)).toBe(img);
  });
});

describe('trainClassifier', () => {
  it('learns MNIST digits from a few hundred examples, deterministically, and round-trips through safetensors', async () => {
    const dataset = loadDataset('mnist', { split: 'train', limit: 384 });
    const testDataset = loadDataset('mnist', { split: 'test', limit: 200 });
    const run = () => trainClassifier({ dataset, testDataset, epochs: 2, batchSize: 32, lr: 3e-3 });
    const a = await run();
    expect(a.history).toHaveLength(2);
    expect(a.testAccuracy).toBeGreaterThan(0.3); // chance is 0.1
    const b = await run();
    expect(b.history).toEqual(a.history);
    const back = loadClassifier(saveClassifier(a.classifier));
    expect(back.accuracy(testDataset.images, testDataset.labels)).toBe(a.testAccuracy);
    for (const c of [a.classifier, b.classifier, back]) c.dispose();
  });

  it('rejects images that are not 1×28×28', async () => {
    const dataset = loadDataset('mnist', { split: 'train', limit: 8, size: 16 });
    await expect(trainClassifier({ dataset, epochs: 1 })).rejects.toThrow(/has images 1×16×16; the MNIST classifier needs 1×28×28/);
  });
});
