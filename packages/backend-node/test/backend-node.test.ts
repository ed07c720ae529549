import { afterAll, describe, expect, it } from 'vitest';
import { patchWasmMatMul, SPLIT_MIN_MACS, tf } from '@tarflow/tensor';
import { initCpu, initNodeBackend, initWasm, NODE_WASM_THREADS_NOTE, NodeBackendError } from '../src/index.js';

describe('@tarflow/backend-node', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('sets up wasm with SIMD and reports one thread, saying why', async () => {
    const info = await initWasm();
    expect(tf.getBackend()).toBe('wasm');
    expect(info.backend).toBe('wasm');
    expect(info.simd).toBe(true); // Node 20's V8 validates wasm SIMD
    expect(info.threads).toBe(1);
    expect(info.notes).toContain(NODE_WASM_THREADS_NOTE);
    expect(info.summary).toBe('wasm (SIMD, 1 thread)');
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]));
    expect(Array.from(y.dataSync())).toEqual([3, 3, 3, 3]);
  });

  it('replaces the wasm BatchMatMul kernel: transposed products agree with explicit transposes, memory stays flat', async () => {
    await initWasm();
    expect(patchWasmMatMul()).toBe(true); // already applied by initWasm; idempotent
    const a = tf.randomNormal([2, 5, 7], 0, 1, 'float32', 1) as tf.Tensor3D;
    const b = tf.randomNormal([2, 6, 7], 0, 1, 'float32', 2) as tf.Tensor3D;
    const c = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 3) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const t = (x: tf.Tensor3D) => tf.transpose(x, [0, 2, 1]);
    const cases: Array<[tf.Tensor3D, tf.Tensor3D, boolean, boolean]> = [
      [a, b, false, true],
      [c, a, true, false],
      [b, c, true, true],
    ];
    for (const [x, y, ta, tb] of cases) {
      const diff = tf.tidy(() => {
        const got = tf.matMul(x, y, ta, tb);
        const want = tf.matMul(ta ? t(x) : x, tb ? t(y) : y);
        expect(got.shape).toEqual(want.shape);
        return tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
      });
      expect(diff).toBeLessThan(1e-5);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, c]);
  });

  it('runs batched products of large matrices one batch entry at a time: same values, memory stays flat', async () => {
    await initWasm();
    const M = 96, K = 128, N = 112; // M·K·N ≥ SPLIT_MIN_MACS: the split path
    expect(M * K * N).toBeGreaterThanOrEqual(SPLIT_MIN_MACS);
    const a = tf.randomNormal([2, 3, M, K], 0, 1, 'float32', 4) as tf.Tensor4D;
    const b = tf.randomNormal([2, 3, N, K], 0, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const tb of [false, true]) {
      const diff = tf.tidy(() => {
        const bb = tb ? b : tf.transpose(b, [0, 1, 3, 2]);
        const got = tf.matMul(a, bb, false, tb);
        expect(got.shape).toEqual([2, 3, M, N]);
        // Each entry on its own: a 2-D product, which never splits.
        const a3 = tf.reshape(a, [6, M, K]);
        const b3 = tf.reshape(b, [6, N, K]);
        const want = tf.stack(Array.from({ length: 6 }, (_, i) => tf.matMul(tf.squeeze(tf.slice(a3, [i, 0, 0], [1, M, K]), [0]), tf.squeeze(tf.slice(b3, [i, 0, 0], [1, N, K]), [0]), false, true)));
        return tf.max(tf.abs(tf.sub(tf.reshape(got, [6, M, N]), want))).dataSync()[0];
      });
      expect(diff).toBeLessThan(1e-4);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('sets up cpu', async () => {
    const info = await initCpu();
    expect(tf.getBackend()).toBe('cpu');
    expect(info.summary).toBe('cpu (JavaScript)');
  });

  it('auto prefers wasm; naming one gives exactly that one', async () => {
    expect((await initNodeBackend()).backend).toBe('wasm');
    expect((await initNodeBackend('cpu')).backend).toBe('cpu');
    expect((await initNodeBackend('wasm')).backend).toBe('wasm');
  });

  it('errors name the backend and the reason', () => {
    const e = new NodeBackendError('wasm', 'this runtime has no WebAssembly');
    expect(e.message).toBe("tfjs backend 'wasm' is unavailable: this runtime has no WebAssembly");
    expect(e.reason).toBe('this runtime has no WebAssembly');
  });
});
