import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { cachedAttention, fusedAffine, fusedEmbed, fusedLayer, fusedLinear, fusedSupport, WASM_GEMM_MIN_MACS, WASM_XNNPACK_MIN_ROWS } from '../src/index.js';
import { BACKENDS, plainGelu as gelu, plainLayerNorm as layerNorm, rand, relErr, useBackend } from './helpers.js';
import '@tensorflow/tfjs-backend-cpu';

const TOL = 1e-5;

/** y = x Wᵀ + b over the last axis (the plain ops). */
function plainLinear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const K = x.shape[x.rank - 1];
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, K]) as tf.Tensor2D, w as tf.Tensor2D, false, true), b);
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
}

describe.each(BACKENDS)('fused kernels on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  afterAll(() => {});

  it('is supported here and not on unknown backends', () => {
    expect(fusedSupport(backend)).toEqual({ ok: true });
    const no = fusedSupport('webgl');
    expect(no.ok).toBe(false);
    if (!no.ok) expect(no.reason).toMatch(/webgl/);
  });

  // Small shapes run the JavaScript loops; large ones (on wasm) the backend's GEMM.
  describe.each([
    ['small', 3, 128, 96],
    ['large', 70, 128, 512],
  ])('linear (%s)', (_, M, K, N) => {
    it('LayerNorm → linear → GELU, and linear + residual, match the plain ops', () => {
      if (backend === 'wasm' && _ === 'large') expect(M * K * N).toBeGreaterThanOrEqual(WASM_GEMM_MIN_MACS);
      const before = tf.memory().numTensors;
      const x = rand([1, M, K], 1);
      const w = rand([N, K], 2, 0.1);
      const b = rand([N], 3, 0.1);
      const g = rand([K], 4, 0.5);
      const beta = rand([K], 5, 0.1);
      const res = rand([1, M, N], 6);
      const norm = { weight: g, bias: beta };
      const fused1 = fusedLinear(x, { weight: w, bias: b }, { norm: { weight: g, bias: beta }, gelu: true });
      const plain1 = tf.tidy(() => gelu(plainLinear(layerNorm(x, norm), w, b)));
      expect(fused1.shape).toEqual([1, M, N]);
      expect(relErr(fused1, plain1)).toBeLessThanOrEqual(TOL);
      const fused2 = fusedLinear(x, { weight: w, bias: b }, { residual: res });
      const plain2 = tf.tidy(() => tf.add(res, plainLinear(x, w, b)));
      expect(relErr(fused2, plain2)).toBeLessThanOrEqual(TOL);
      // With Wᵀ given (the wasm GEMM's fast path) the results are the same.
      const wt = tf.transpose(w);
      const fused3 = fusedLinear(x, { weight: w, bias: b }, { norm: { weight: g, bias: beta }, gelu: true, weightT: wt });
      const fused4 = fusedLinear(x, { weight: w, bias: b }, { residual: res, weightT: wt });
      expect(relErr(fused3, plain1)).toBeLessThanOrEqual(TOL);
      expect(relErr(fused4, plain2)).toBeLessThanOrEqual(TOL);
      tf.dispose([x, w, b, g, beta, res, fused1, plain1, fused2, plain2, wt, fused3, fused4]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('embedding: projection, position and class mixing (labels, −1, second copy) match the plain ops', () => {
    const [B, n, D, C, T, K, start] = [3, 2, 12, 32, 9, 5, 4];
    const x = rand([B, n, D], 11);
    const w = rand([C, D], 12, 0.3);
    const b = rand([C], 13, 0.1);
    const pos = rand([T, C], 14, 0.1);
    const table = rand([K, 1, C], 15, 0.2);
    const labels = tf.tensor1d([2, -1, 4], 'int32');
    const fused = fusedEmbed(x, { weight: w, bias: b }, pos, { start, copies: 2, labels, classEmbed: table });
    const plain = tf.tidy(() => {
      const t2 = tf.reshape(table, [K, C]);
      const mean = tf.mean(t2, 0);
      const cls = tf.stack([tf.gather(t2, 2), mean, tf.gather(t2, 4), mean, mean, mean]); // [2B, C]
      const h = tf.add(plainLinear(tf.concat([x, x], 0), w, b), tf.slice(pos, [start, 0], [n, C]));
      return tf.add(h, tf.expandDims(cls, 1));
    });
    expect(fused.shape).toEqual([2 * B, n, C]);
    expect(relErr(fused, plain)).toBeLessThanOrEqual(TOL);
    const single = fusedEmbed(x, { weight: w, bias: b }, pos, { start, classEmbed: null });
    const plainSingle = tf.tidy(() => tf.add(plainLinear(x, w, b), tf.slice(pos, [start, 0], [n, C])));
    expect(relErr(single, plainSingle)).toBeLessThanOrEqual(TOL);
    tf.dispose([x, w, b, pos, table, labels, fused, plain, single, plainSingle]);
  });

  it('attention over a preallocated cache: writes keys/values in place, causal over a span, per-row scale', () => {
    const [L, R, H, hd, T] = [2, 4, 2, 8, 7];
    const C = H * hd;
    const layer = 1;
    const scales = [0.3, 0.35, 0.25, 0.4];
    const cache = tf.zeros([L, 2, R, H, T, hd]);
    // Fill positions [0, 3) with one call, then evaluate a span of 3 at start 3, then 1 at start 6.
    const spans: Array<[number, number]> = [[0, 3], [3, 3], [6, 1]];
    const qkvs = spans.map(([, n], i) => rand([R, n, 3 * C], 20 + i));
    const outs = spans.map(([start], i) => cachedAttention(qkvs[i], cache, { layer, start, scales }));
    const plain = tf.tidy(() => {
      const all = tf.concat(qkvs, 1); // [R, T, 3C]
      const heads = tf.transpose(tf.reshape(all, [R, T, 3 * H, hd]), [0, 2, 1, 3]);
      const [q, k, v] = tf.split(heads, 3, 1);
      const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
      const s = tf.add(tf.mul(tf.matMul(q, k, false, true), tf.reshape(tf.tensor1d(scales), [R, 1, 1, 1])), mask);
      const o = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), v), [0, 2, 1, 3]), [R, T, C]);
      const cached = tf.stack([k, v]); // [2, R, H, T, hd]
      return { o, cached };
    });
    expect(relErr(tf.concat(outs, 1), plain.o)).toBeLessThanOrEqual(TOL);
    const written = tf.tidy(() => tf.squeeze(tf.slice(cache, [layer], [1]), [0]));
    const untouched = tf.tidy(() => tf.slice(cache, [0], [1]));
    expect(relErr(written, plain.cached)).toBe(0);
    expect(tf.max(tf.abs(untouched)).dataSync()[0]).toBe(0);
    tf.dispose([cache, ...qkvs, ...outs, plain.o, plain.cached, written, untouched]);
  });

  // Few rows run the one-kernel layer's own path; many rows with Wᵀ (on wasm: XNNPACK) the per-op functions.
  describe.each([
    ['a step', 4, 1, 5],
    ['a span', 2, 6, 0],
    ['a long span', 2, WASM_XNNPACK_MIN_ROWS / 2 + 1, 1],
  ])('a transformer layer as one kernel (%s: %i rows × %i positions from %i)', (_, R, n, start) => {
    it('matches the five kernels it replaces, cache included', () => {
      const before = tf.memory().numTensors;
      const [L, H, hd, C, E] = [2, 2, 8, 16, 64];
      const T = start + n + 1;
      const layer = 1;
      const scales = Array.from({ length: R }, (_, r) => 0.3 + 0.05 * r);
      const lin = (o: number, i: number, seed: number) => ({ weight: rand([o, i], seed, 0.2), bias: rand([o], seed + 1, 0.1) });
      const norm = (seed: number) => ({ weight: rand([C], seed, 0.5), bias: rand([C], seed + 1, 0.1) });
      const w = { attnNorm: norm(50), qkv: lin(3 * C, C, 52), proj: lin(C, C, 54), mlpNorm: norm(56), fc1: lin(E, C, 58), fc2: lin(C, E, 60) };
      const weightT = { qkv: tf.transpose(w.qkv.weight), proj: tf.transpose(w.proj.weight), fc1: tf.transpose(w.fc1.weight), fc2: tf.transpose(w.fc2.weight) };
      const prefix = rand([L, 2, R, H, T, hd], 62);
      const cacheA = tf.clone(prefix);
      const cacheB = tf.clone(prefix);
      const h = rand([R, n, C], 63);
      const one = fusedLayer(h, cacheA, w, { layer, start, scales, weightT });
      const five = tf.tidy(() => {
        const qkv = fusedLinear(h, w.qkv, { norm: w.attnNorm });
        const attn = cachedAttention(qkv, cacheB, { layer, start, scales });
        const h1 = fusedLinear(attn, w.proj, { residual: h });
        const hidden = fusedLinear(h1, w.fc1, { norm: w.mlpNorm, gelu: true });
        return fusedLinear(hidden, w.fc2, { residual: h1 });
      });
      expect(one.shape).toEqual([R, n, C]);
      expect(relErr(one, five)).toBeLessThanOrEqual(TOL);
      expect(relErr(cacheA, cacheB)).toBeLessThanOrEqual(TOL); // the keys and values, computed by either GEMM
      tf.dispose([one, five, prefix, cacheA, cacheB, h, ...Object.values(weightT), ...Object.values(w).flatMap((p) => [p.weight, p.bias])]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  describe.each([
    ['both', true, true],
    ['alpha', false, true],
    ['gamma', true, true],
    ['none', false, true],
    ['both', false, false],
  ] as const)('affine output (guide %s, annealed %s, nvp %s)', (on, annealed, nvp) => {
    it('matches projection, split and guideParams', async () => {
      const { guideParams } = await import('@tarflow/solvers');
      const [B, n, C, D, T, start] = [2, 3, 32, 6, 10, 4];
      const P = nvp ? 2 * D : D;
      const guided = on !== 'none';
      const R = guided ? 2 * B : B;
      const x = rand([R, n, C], 31);
      const w = rand([P, C], 32, 0.2);
      const b = rand([P], 33, 0.1);
      const g = guided ? { scale: 1.7, on, annealed } : null;
      const fused = fusedAffine(x, { weight: w, bias: b }, { batch: B, dim: D, tokens: T, start, guidance: g });
      const plain = tf.tidy(() => {
        const out = plainLinear(x, w, b);
        const split = (t: tf.Tensor) => (nvp ? tf.split(t, [D, D], 2) : [tf.zerosLike(t), t]);
        if (!g) {
          const [logScale, shift] = split(out);
          return { logScale, shift };
        }
        const [c, u] = tf.split(out, 2, 0);
        const [lc, sc] = split(c);
        const [lu, su] = split(u);
        return guideParams({ logScale: lc as tf.Tensor3D, shift: sc as tf.Tensor3D }, { logScale: lu as tf.Tensor3D, shift: su as tf.Tensor3D }, g, T, start);
      });
      expect(fused.logScale.shape).toEqual([B, n, D]);
      expect(relErr(fused.logScale, plain.logScale)).toBeLessThanOrEqual(TOL);
      expect(relErr(fused.shift, plain.shift)).toBeLessThanOrEqual(TOL);
      tf.dispose([x, w, b, fused.logScale, fused.shift, plain.logScale, plain.shift]);
    });
  });
});
