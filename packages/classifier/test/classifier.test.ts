import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { f32Tensor, serializeSafetensors } from '@tarflow/checkpoint';
import '@tensorflow/tfjs-backend-wasm';
import {
  CLASSIFIER_FORMAT,
  DEFAULT_CLASSIFIER_CONFIG,
  classifierMetadata,
  conv3x3,
  loadClassifier,
  MnistClassifier,
  saveClassifier,
} from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const images = (n: number, seed: number) => tf.randomUniform([n, 1, 28, 28], -1, 1, 'float32', seed) as tf.Tensor4D;

describe('conv3x3', () => {
  it("equals tf.conv2d with 'same' padding", () => {
    const x = tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 5], 0, 1, 'float32', 2);
    const b = tf.randomNormal([5], 0, 1, 'float32', 3);
    const ours = conv3x3(x, w, b);
    const ref = tf.add(tf.conv2d(x, w as tf.Tensor4D, 1, 'same'), b);
    expect(tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, w, b, ours, ref]);
  });
});

describe('MnistClassifier', () => {
  it('gives logits [B, 10] and features [B, F], consistent with each other, without leaking tensors', () => {
    const c = MnistClassifier.init(DEFAULT_CLASSIFIER_CONFIG, 3);
    const x = images(4, 1);
    const before = tf.memory().numTensors;
    const logits = c.classify(x);
    const feats = c.features(x);
    expect(logits.shape).toEqual([4, 10]);
    expect(feats.shape).toEqual([4, DEFAULT_CLASSIFIER_CONFIG.hidden]);
    expect(tf.tidy(() => tf.min(feats).dataSync()[0])).toBeGreaterThanOrEqual(0);
    const again = c.logitsFromFeatures(feats);
    expect(Array.from(again.dataSync())).toEqual(Array.from(logits.dataSync()));
    tf.dispose([logits, feats, again]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => c.classify(tf.zeros([1, 28, 28, 1]) as tf.Tensor4D)).toThrow(/classifier input: expected shape \[\?, 1, 28, 28\]/);
    x.dispose();
    c.dispose();
  });

  it('round-trips through safetensors with its config and metadata', () => {
    const c = MnistClassifier.init(DEFAULT_CLASSIFIER_CONFIG, 4);
    const bytes = saveClassifier(c, { test_accuracy: '0.5' });
    const back = loadClassifier(bytes);
    const meta = classifierMetadata(bytes);
    expect(meta.format).toBe(CLASSIFIER_FORMAT);
    expect(meta.test_accuracy).toBe('0.5');
    expect(back.config).toEqual(DEFAULT_CLASSIFIER_CONFIG);
    const x = images(3, 2);
    const flat = x.dataSync() as Float32Array;
    expect(Array.from(back.predict(flat))).toEqual(Array.from(c.predict(flat)));
    tf.dispose([x]);
    c.dispose();
    back.dispose();
  });

  it('rejects files that are not a classifier, naming the problem', () => {
    const other = serializeSafetensors(new Map([['x', f32Tensor([1], new Float32Array([1]))]]), { format: 'tarflow' });
    expect(() => loadClassifier(other)).toThrow(/not an MNIST classifier: metadata 'format' is "tarflow"/);
    const c = MnistClassifier.init(DEFAULT_CLASSIFIER_CONFIG, 5);
    const good = saveClassifier(c);
    c.dispose();
    const wide = MnistClassifier.init({ ...DEFAULT_CLASSIFIER_CONFIG, hidden: 64 }, 5);
    const wideBytes = saveClassifier(wide);
    wide.dispose();
    // A file whose config says hidden 128 but whose tensors are 64 wide.
    const text = new TextDecoder().decode(wideBytes.subarray(8, 8 + Number(new DataView(wideBytes.buffer).getBigUint64(0, true))));
    const header = JSON.parse(text);
    header.__metadata__.config = JSON.stringify(DEFAULT_CLASSIFIER_CONFIG);
    const h = new TextEncoder().encode(JSON.stringify(header));
    const body = wideBytes.subarray(8 + text.length);
    const forged = new Uint8Array(8 + h.length + body.length);
    new DataView(forged.buffer).setBigUint64(0, BigInt(h.length), true);
    forged.set(h, 8);
    forged.set(body, 8 + h.length);
    expect(() => loadClassifier(forged)).toThrow(/tensor 'fc1.weight' has shape \[1568, 64\] but the config needs \[1568, 128\]/);
    expect(good.length).toBeGreaterThan(0);
  });
});
