/**
 * The wasm heap can grow past 2 GiB (a training run that also samples does): addresses there are
 * negative as JavaScript reads emscripten's i32 `_malloc` result, and the SIMD kernels' scratch buffers
 * must still be found. A ~2.1 GiB tensor pushes the heap past 2 GiB; the embedding kernel (whose
 * projection goes through scratch below XNNPACK's row threshold) must then still match the plain ops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { fusedEmbed } from '../src/index.js';
import { rand, relErr, useBackend } from './helpers.js';

type Malloc = (bytes: number) => number;

describe('fused kernels with the wasm heap above 2 GiB', () => {
  let big: tf.Tensor | undefined;
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => big?.dispose());

  it('the embedding kernel, with its scratch buffer above 2 GiB, matches the plain ops', () => {
    big = tf.zeros([2 ** 29 + 2 ** 24]); // 2.06 GiB of float32 on the heap
    const wasm = (tf.backend() as unknown as { wasm: { _malloc: Malloc } }).wasm;
    const original = wasm._malloc;
    const raw: number[] = [];
    wasm._malloc = (bytes: number) => {
      const r = original(bytes);
      raw.push(r);
      return r;
    };
    try {
      const [B, n, D, C, T, start] = [2, 3, 16, 32, 8, 2];
      const x = rand([B, n, D], 1);
      const w = rand([C, D], 2, 0.2);
      const b = rand([C], 3, 0.1);
      const pos = rand([T, C], 4, 0.1);
      const fused = fusedEmbed(x, { weight: w, bias: b }, pos, { start });
      const plain = tf.tidy(() =>
        tf.add(tf.add(tf.matMul(tf.reshape(x, [B * n, D]), w, false, true), b).reshape([B, n, C]), tf.slice(pos, [start, 0], [n, C])),
      );
      // The precondition: some allocation during the call landed above 2 GiB.
      expect(raw.some((r) => r < 0 || r >= 2 ** 31)).toBe(true);
      expect(relErr(fused, plain)).toBeLessThanOrEqual(1e-5);
      tf.dispose([x, w, b, pos, fused, plain]);
    } finally {
      wasm._malloc = original;
    }
  });
});
