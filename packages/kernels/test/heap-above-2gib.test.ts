/**
 * The wasm heap can grow past 2 GiB (a training run that also samples does): addresses there are
 * negative as JavaScript reads emscripten's i32 `_malloc` result, and the SIMD kernels' scratch buffers
 * must still be found. The test fills the heap up to past 2 GiB — blocks of shrinking sizes, each size
 * until one lands above 2 GiB, so that no hole below is left for the kernel's small allocations — then
 * runs the embedding kernel (whose projection goes through scratch below XNNPACK's row threshold) and
 * compares it with the plain ops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { fusedEmbed } from '../src/index.js';
import { rand, relErr, useBackend } from './helpers.js';

interface Heap {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}
const HIGH = 2 ** 31;
const high = (raw: number) => raw >>> 0 >= HIGH;

describe('fused kernels with the wasm heap above 2 GiB', () => {
  const fillers: number[] = [];
  let heap: Heap;
  beforeAll(async () => {
    await useBackend('wasm');
    heap = (tf.backend() as unknown as { wasm: Heap }).wasm;
  });
  afterAll(() => {
    for (const p of fillers) heap._free(p);
  });

  it('the embedding kernel, with its buffers above 2 GiB, matches the plain ops', () => {
    for (const size of [16 << 20, 1 << 20, 64 << 10, 4 << 10, 256, 16]) {
      for (;;) {
        const p = heap._malloc(size);
        if (!p) throw new Error(`the wasm heap cannot grow past 2 GiB here (malloc of ${size} bytes failed)`);
        if (high(p)) {
          heap._free(p); // back to the top of the heap, above 2 GiB
          break;
        }
        fillers.push(p);
      }
    }
    const original = heap._malloc;
    const raw: number[] = [];
    heap._malloc = (bytes: number) => {
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
      raw.length = 0;
      const fused = fusedEmbed(x, { weight: w, bias: b }, pos, { start });
      // The precondition: the kernel's allocations landed above 2 GiB.
      expect(raw.length).toBeGreaterThan(0);
      expect(raw.every(high)).toBe(true);
      const plain = tf.tidy(() =>
        tf.add(tf.add(tf.matMul(tf.reshape(x, [B * n, D]), w, false, true), b).reshape([B, n, C]), tf.slice(pos, [start, 0], [n, C])),
      );
      expect(relErr(fused, plain)).toBeLessThanOrEqual(1e-5);
      tf.dispose([x, w, b, pos, fused, plain]);
    } finally {
      heap._malloc = original;
    }
  });
});
