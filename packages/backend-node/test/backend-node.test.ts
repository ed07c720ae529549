import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
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
