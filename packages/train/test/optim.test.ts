import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@tarflow/backends';
import { tf } from '@tarflow/tensor';
import { AdamW, clipByGlobalNorm, cosineLr, bitsPerDim } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('AdamW', () => {
  it('matches a hand-computed update on a tiny tensor (two steps, decoupled weight decay)', () => {
    const p = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const opt = new AdamW([p], { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    const lr = 0.01;
    const g1 = [0.5, -1, 2];
    const g2 = [-0.25, 0.5, 1];
    // By hand, element by element (PyTorch's AdamW).
    let w = [1, -2, 0.5];
    let m = [0, 0, 0];
    let v = [0, 0, 0];
    [g1, g2].forEach((g, k) => {
      const t = k + 1;
      w = w.map((x) => x * (1 - lr * 0.1));
      m = m.map((x, i) => 0.9 * x + 0.1 * g[i]);
      v = v.map((x, i) => 0.95 * x + 0.05 * g[i] * g[i]);
      const bc1 = 1 - 0.9 ** t;
      const bc2 = 1 - 0.95 ** t;
      w = w.map((x, i) => x - (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + 1e-8)));
      tf.tidy(() => opt.apply([tf.tensor1d(g)], lr));
    });
    const got = Array.from(p.dataSync());
    got.forEach((x, i) => expect(x).toBeCloseTo(w[i], 6));
    const state = opt.getState();
    expect(state.step).toBe(2);
    Array.from(state.m[0]).forEach((x, i) => expect(x).toBeCloseTo(m[i], 6));
    Array.from(state.v[0]).forEach((x, i) => expect(x).toBeCloseTo(v[i], 6));
    opt.dispose();
    p.dispose();
  });

  it('frees everything it allocated: an optimizer made, stepped and disposed leaves no tensor', () => {
    const p = tf.variable(tf.tensor1d([1, 2, 3]));
    const before = tf.memory().numTensors;
    const opt = new AdamW([p], { weightDecay: 0.1 });
    const g = tf.tensor1d([0.5, -0.5, 1]);
    opt.apply([g], 0.1);
    g.dispose();
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });

  it('restores its state exactly and rejects states of the wrong size', () => {
    const p = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
    const a = new AdamW([p]);
    tf.tidy(() => a.apply([tf.ones([2, 2])], 1e-2));
    const saved = a.getState();
    const b = new AdamW([p]);
    b.setState(saved);
    expect(b.getState()).toEqual(saved);
    expect(() => b.setState({ step: 1, m: [new Float32Array(3)], v: [new Float32Array(4)] })).toThrow(/m\[0\] has 3 values but parameter 0 has 4/);
    a.dispose();
    b.dispose();
    p.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('scales gradients to the limit like torch.nn.utils.clip_grad_norm_', () => {
    const grads = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])];
    const r = clipByGlobalNorm(grads, 1);
    expect(r.norm).toBeCloseTo(5, 6);
    expect(r.clipped).toBe(true);
    expect(Array.from(r.grads[0].dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    const unclipped = clipByGlobalNorm(grads, 10);
    expect(unclipped.clipped).toBe(false);
    expect(unclipped.grads[1]).toBe(grads[1]);
    tf.dispose([...grads, ...r.grads]);
  });
});

describe('cosineLr', () => {
  it('warms up linearly, peaks, and decays to the minimum', () => {
    const s = { maxLr: 1e-3, minLr: 1e-5, warmupSteps: 10, totalSteps: 110 };
    expect(cosineLr(s, 0)).toBeCloseTo(1e-5 + (1e-3 - 1e-5) / 10, 12);
    expect(cosineLr(s, 9)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(s, 10)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(s, 60)).toBeCloseTo((1e-3 + 1e-5) / 2, 12);
    expect(cosineLr(s, 110)).toBe(1e-5);
  });
});

describe('bitsPerDim', () => {
  it('converts the per-dimension loss to bits/dim of 256-level data in [-1, 1]', () => {
    // loss 0 ↔ a standard-normal density: ½ln(2π) + ln 128 nats.
    expect(bitsPerDim(0)).toBeCloseTo((0.5 * Math.log(2 * Math.PI) + Math.log(128)) / Math.LN2, 12);
    expect(bitsPerDim(-Math.log(128) - 0.5 * Math.log(2 * Math.PI))).toBeCloseTo(0, 12);
  });
});
