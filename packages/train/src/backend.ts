/**
 * Backend selection for training in Node.
 *
 * tfjs comes only through `@tarflow/tensor`; the WebAssembly backend is the
 * fast CPU backend there. Its multi-threaded build is never used in Node:
 * tfjs-backend-wasm 4.22 reports `WASM_HAS_MULTITHREAD_SUPPORT = false`
 * whenever `IS_NODE` is set (tfjs issue #3830: the threaded module needs Web
 * Workers and Blob URLs), so `setThreadsCount` has no effect here and training
 * runs on one core per process.
 */
import { patchWasmMatMul, tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';

export { patchWasmMatMul };


/** The backends training accepts. */
export type TrainBackend = 'wasm' | 'cpu';

/**
 * Makes `name` (default `wasm`) the active tfjs backend, waits until it is
 * ready, and (for wasm) applies {@link patchWasmMatMul}. Throws naming the backend when it cannot be initialised.
 */
export async function initBackend(name: TrainBackend = 'wasm'): Promise<string> {
  if (tf.getBackend() === name) return name;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new Error(`tfjs backend '${name}' failed to initialise: ${(e as Error).message}`);
  }
  if (!ok) throw new Error(`tfjs backend '${name}' is not available in this process`);
  await tf.ready();
  if (name === 'wasm') patchWasmMatMul();
  return tf.getBackend();
}
