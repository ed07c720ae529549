import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { cachedAttention, fusedAffine, fusedEmbed, fusedLinear, WASM_XNNPACK_MIN_ROWS } from '../src/index.js';
import { simdKernels } from '../src/simd/module.js';
import { plainGelu as gelu, plainLayerNorm as layerNorm, rand, relErr, useBackend } from './helpers.js';

const TOL = 1e-5;
const here = dirname(fileURLToPath(import.meta.url));

function plainLinear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const K = x.shape[x.rank - 1];
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, K]) as tf.Tensor2D, w as tf.Tensor2D, false, true), b);
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
}

describe('the SIMD module (kernels.wat)', () => {
  it('the committed bytes are those wabt compiles from kernels.wat', async () => {
    // @ts-expect-error: a plain .mjs script without types
    const { compiledModule } = await import('../scripts/compile-wat.mjs');
    const source = readFileSync(join(here, '..', 'src', 'simd', 'kernels.wat'), 'utf8');
    const committed = readFileSync(join(here, '..', 'src', 'simd', 'kernels-wasm.ts'), 'utf8');
    expect(committed).toBe(await compiledModule(source));
  });

  it('imports only the memory and has no data segments, globals, tables or start function', async () => {
    const { KERNELS_WASM_BASE64 } = await import('../src/simd/kernels-wasm.js');
    const mod = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(WebAssembly.Module.exports(mod).map((e) => `${e.kind} ${e.name}`).sort()).toEqual(
      ['add', 'attention', 'gelu', 'layer_norm', 'linear'].map((n) => `function ${n}`),
    );
    // Sections by id: 6 global, 4 table, 8 start, 11 data, 12 data count.
    const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    const ids: number[] = [];
    for (let p = 8; p < bytes.length; ) {
      ids.push(bytes[p]);
      let size = 0;
      let shift = 0;
      let q = p + 1;
      for (;;) {
        const b = bytes[q++];
        size |= (b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
      }
      p = q + size;
    }
    for (const id of [4, 6, 8, 11, 12]) expect(ids).not.toContain(id);
  });
});

describe('fused kernels on wasm through the SIMD module', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('runs over the wasm backend\'s own memory', () => {
    expect(simdKernels(tf.backend())).not.toBeNull();
  });

  it('writes only its outputs: the memory around a linear layer\'s output is untouched', () => {
    const k = simdKernels(tf.backend())!;
    const be = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
    const at = (t: tf.Tensor) => be.dataIdMap.get(t.dataId).memoryOffset;
    const [M, K, N] = [3, 8, 12];
    const x = rand([M, K], 1);
    const w = rand([N, K], 2);
    const b = rand([N], 3);
    const guard = tf.fill([M * N + 8], 7); // output in the middle, 4 floats of guard each side
    k.linear(at(x), M, K, at(w), N, at(b), at(guard) + 16);
    const g = guard.dataSync();
    expect([...g.slice(0, 4), ...g.slice(4 + M * N)]).toEqual(new Array(8).fill(7));
    const y = tf.tensor2d(g.slice(4, 4 + M * N), [M, N]);
    const plain = plainLinear(x, w, b);
    expect(relErr(y, plain)).toBeLessThanOrEqual(TOL);
    tf.dispose([x, w, b, guard, y, plain]);
  });

  it('a row of a linear layer comes out bit for bit the same whichever rows it is computed with', () => {
    const k = simdKernels(tf.backend())!;
    const be = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
    const at = (t: tf.Tensor) => be.dataIdMap.get(t.dataId).memoryOffset;
    const [M, K, N] = [11, 32, 24]; // blocks of four rows, then a pair, then one
    const x = rand([M, K], 1);
    const w = rand([N, K], 2);
    const b = rand([N], 3);
    const all = tf.zeros([M, N]);
    const one = tf.zeros([N]);
    k.linear(at(x), M, K, at(w), N, at(b), at(all));
    const rows = all.dataSync();
    for (let i = 0; i < M; i++) {
      k.linear(at(x) + i * K * 4, 1, K, at(w), N, at(b), at(one));
      expect(Array.from(one.dataSync())).toEqual(Array.from(rows.slice(i * N, (i + 1) * N)));
    }
    tf.dispose([x, w, b, all, one]);
  });

  // Odd and even row counts, below and (with Wᵀ given) from the XNNPACK threshold.
  describe.each([
    [1, 16, 32],
    [5, 128, 96],
    [WASM_XNNPACK_MIN_ROWS + 3, 128, 64],
  ])('linear of %i rows, %i → %i', (M, K, N) => {
    it('LayerNorm → linear → GELU, and linear + residual, match the plain ops, with W or Wᵀ', () => {
      const before = tf.memory().numTensors;
      const x = rand([1, M, K], 1);
      const w = rand([N, K], 2, 0.1);
      const wt = tf.transpose(w);
      const b = rand([N], 3, 0.1);
      const norm = { weight: rand([K], 4, 0.5), bias: rand([K], 5, 0.1) };
      const res = rand([1, M, N], 6);
      const plain1 = tf.tidy(() => gelu(plainLinear(layerNorm(x, norm), w, b)));
      const plain2 = tf.tidy(() => tf.add(res, plainLinear(x, w, b)));
      for (const weightT of [undefined, wt]) {
        const f1 = fusedLinear(x, { weight: w, bias: b }, { norm, gelu: true, weightT });
        const f2 = fusedLinear(x, { weight: w, bias: b }, { residual: res, weightT });
        expect(f1.shape).toEqual([1, M, N]);
        expect(relErr(f1, plain1)).toBeLessThanOrEqual(TOL);
        expect(relErr(f2, plain2)).toBeLessThanOrEqual(TOL);
        tf.dispose([f1, f2]);
      }
      tf.dispose([x, w, wt, b, norm.weight, norm.bias, res, plain1, plain2]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('refuses shapes that would read or write outside the given tensors', () => {
    const before = tf.memory().numTensors;
    const x = rand([1, 2, 8], 1);
    const w = rand([12, 4], 2); // [N, K] with K = 4, not 8
    const b = rand([12], 3);
    expect(() => fusedLinear(x, { weight: w, bias: b })).toThrow(/linear layer of 8 inputs/);
    const qkv = rand([3, 1, 48], 4);
    const cache = tf.zeros([1, 2, 2, 2, 5, 8]); // 2 rows, qkv has 3
    expect(() => cachedAttention(qkv, cache, { layer: 0, start: 0, scales: [1, 1, 1] })).toThrow(/do not fit the cache/);
    tf.dispose([x, w, b, qkv, cache]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('GELU over its whole range (erf tails, zero) matches the plain ops', () => {
    const x = tf.tensor3d([[[-12, -6, -3.5, -1, -1e-3, 0, 1e-3, 0.5, 1, 2, 3.5, 6, 12, 40, -40, 0.25]]]);
    const eye = tf.eye(16);
    const zero = tf.zeros([16]);
    const fused = fusedLinear(x, { weight: eye, bias: zero }, { gelu: true });
    const plain = tf.tidy(() => gelu(x));
    expect(relErr(fused, plain)).toBeLessThanOrEqual(TOL);
    tf.dispose([x, eye, zero, fused, plain]);
  });

  it('embedding and affine output with Wᵀ (XNNPACK rows) and without match the plain ops', () => {
    const [B, n, D, C, T, K, start] = [3, 24, 16, 32, 30, 5, 4];
    const x = rand([B, n, D], 11);
    const w = rand([C, D], 12, 0.3);
    const wt = tf.transpose(w);
    const b = rand([C], 13, 0.1);
    const pos = rand([T, C], 14, 0.1);
    const table = rand([K, 1, C], 15, 0.2);
    const labels = tf.tensor1d([2, -1, 4], 'int32');
    const plain = tf.tidy(() => {
      const t2 = tf.reshape(table, [K, C]);
      const mean = tf.mean(t2, 0);
      const cls = tf.stack([tf.gather(t2, 2), mean, tf.gather(t2, 4), mean, mean, mean]);
      const h = tf.add(plainLinear(tf.concat([x, x], 0), w, b), tf.slice(pos, [start, 0], [n, C]));
      return tf.add(h, tf.expandDims(cls, 1));
    });
    const pw = rand([2 * D, C], 16, 0.2);
    const pwt = tf.transpose(pw);
    const pb = rand([2 * D], 17, 0.1);
    const h = rand([2 * B, n, C], 18);
    const y = tf.tidy(() => plainLinear(h, pw, pb));
    const [c, u] = tf.split(y, 2, 0);
    const plainParams = tf.tidy(() => {
      const guided = tf.add(c, tf.mul(tf.sub(c, u), 1.5));
      const [logScale, shift] = tf.split(guided, 2, 2);
      return { logScale, shift };
    });
    for (const [embT, outT] of [[undefined, undefined], [wt, pwt]]) {
      const fused = fusedEmbed(x, { weight: w, bias: b }, pos, { start, copies: 2, labels, classEmbed: table, weightT: embT });
      expect(relErr(fused, plain)).toBeLessThanOrEqual(TOL);
      const p = fusedAffine(h, { weight: pw, bias: pb }, { batch: B, dim: D, tokens: T, start, guidance: { scale: 1.5 }, weightT: outT });
      expect(relErr(p.logScale, plainParams.logScale)).toBeLessThanOrEqual(TOL);
      expect(relErr(p.shift, plainParams.shift)).toBeLessThanOrEqual(TOL);
      tf.dispose([fused, p.logScale, p.shift]);
    }
    tf.dispose([x, w, wt, b, pos, table, labels, plain, pw, pwt, pb, h, y, c, u, plainParams.logScale, plainParams.shift]);
  });

  it('attention with large scores (softmax of a wide range) and a span matches the plain ops', () => {
    const [L, R, H, hd, T] = [1, 2, 2, 16, 12];
    const C = H * hd;
    const scales = [2.5, 0.05];
    const cache = tf.zeros([L, 2, R, H, T, hd]);
    const qkv = rand([R, T, 3 * C], 41, 3);
    const a = cachedAttention(tf.slice(qkv, [0, 0, 0], [R, 5, 3 * C]), cache, { layer: 0, start: 0, scales });
    const b = cachedAttention(tf.slice(qkv, [0, 5, 0], [R, T - 5, 3 * C]), cache, { layer: 0, start: 5, scales });
    const plain = tf.tidy(() => {
      const heads = tf.transpose(tf.reshape(qkv, [R, T, 3 * H, hd]), [0, 2, 1, 3]);
      const [q, k, v] = tf.split(heads, 3, 1);
      const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
      const s = tf.add(tf.mul(tf.matMul(q, k, false, true), tf.reshape(tf.tensor1d(scales), [R, 1, 1, 1])), mask);
      return tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), v), [0, 2, 1, 3]), [R, T, C]);
    });
    const fused = tf.concat([a, b], 1);
    expect(relErr(fused, plain)).toBeLessThanOrEqual(TOL);
    tf.dispose([cache, qkv, a, b, plain, fused]);
  });
});
