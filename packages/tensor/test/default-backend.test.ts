import { afterAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { tf } from '../src/index.js';

type DefaultBackend = typeof import('../src/default-backend.js');

/**
 * A process where nothing has chosen a backend yet: tfjs' engine forgets its
 * choice, and default-backend.ts is loaded anew (it says its line once per load).
 */
async function fresh(): Promise<DefaultBackend> {
  tf.engine().reset();
  vi.resetModules();
  const m: DefaultBackend = await import('../src/default-backend.js');
  expect(m.backendChosen()).toBe(false);
  return m;
}

let write: MockInstance<typeof process.stderr.write>;
const lines = () => write.mock.calls.map((c) => String(c[0]));

describe('the backend TarFlow runs on when the program chose none', () => {
  beforeEach(() => {
    write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    return () => write.mockRestore();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('ensureBackend sets up wasm in Node and says so once on stderr; later calls keep it quietly', async () => {
    const { ensureBackend } = await fresh();
    expect(await ensureBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(await ensureBackend()).toBe('wasm');
    expect(lines()).toEqual(['tarflow: no tfjs backend was chosen; using wasm (choose one with selectBackend() from @tarflow/backends, or tf.setBackend())\n']);
    const y = tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([2, 3]), false, true)); // the patched wasm kernel
    expect(Array.from(y.dataSync())).toEqual([3, 3, 3, 3]);
    y.dispose();
  });

  it('ensureBackendSync activates cpu when nothing was chosen, says so once, and keeps a later choice', async () => {
    const { ensureBackend, ensureBackendSync } = await fresh();
    expect(ensureBackendSync()).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await tf.setBackend('wasm');
    expect(ensureBackendSync()).toBe('wasm');
    expect(await ensureBackend()).toBe('wasm');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(/^tarflow: no tfjs backend was chosen; using cpu, plain JavaScript and slow \(await ensureBackend\(\) from @tarflow\/tensor for wasm/);
  });

  it('a tensor op before any choice: tfjs picks cpu, and that is said once instead of its tfjs-node hint', async () => {
    await fresh();
    // as in a program that registered no other backend (wasm, loaded by the first test, has a higher priority)
    const wasm = tf.findBackendFactory('wasm');
    tf.removeBackend('wasm');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const x = tf.tensor1d([1, 2, 3]);
      expect(tf.getBackend()).toBe('cpu');
      expect(Array.from(x.square().dataSync())).toEqual([1, 4, 9]);
      x.dispose();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      tf.registerBackend('wasm', wasm, 2);
    }
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(/^tarflow: no tfjs backend was chosen; using cpu/);
  });

  it('a program that chose a backend hears nothing', async () => {
    const { backendChosen, ensureBackend, ensureBackendSync } = await fresh();
    await tf.setBackend('cpu');
    expect(backendChosen()).toBe(true);
    expect(await ensureBackend()).toBe('cpu');
    expect(ensureBackendSync()).toBe('cpu');
    const x = tf.ones([2]);
    x.dispose();
    expect(lines()).toEqual([]);
  });
});
