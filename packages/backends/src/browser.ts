/**
 * @tarflow/backends for browsers (the "browser"/default export condition):
 * webgpu (@tarflow/backend-webgpu), webgl (@tensorflow/tfjs-backend-webgl)
 * and wasm (@tensorflow/tfjs-backend-wasm), each imported only when tried,
 * and cpu (registered by @tarflow/tensor). Nothing here imports Node code.
 */
import { patchWasmMatMul, tf } from '@tarflow/tensor';
import { selectWith, type BackendInitializer, type BackendName, type BackendPreference, type BackendSelection } from './select.js';
import type { InitWebGPUOptions } from '@tarflow/backend-webgpu';

export * from './select.js';

export interface SelectBackendOptions {
  /** Options for WebGPU (adapter power preference, …). */
  webgpu?: InitWebGPUOptions;
  /**
   * Where the page serves tfjs-backend-wasm's .wasm files (a URL prefix
   * ending in '/'); without it the wasm backend is not tried.
   */
  wasmPaths?: string;
}

async function activate(name: 'webgl' | 'cpu' | 'wasm'): Promise<void> {
  let ok = false;
  try {
    // tfjs-core registers no backend itself: each backend package registers on import.
    if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new Error(`initialisation failed: ${(e as Error).message}`);
  }
  if (!ok) throw new Error(name === 'webgl' ? 'this browser gives no WebGL context' : `tfjs could not initialise its ${name} backend`);
  await tf.ready();
}

function initializers(options: SelectBackendOptions): Record<BackendName, BackendInitializer> {
  return {
    webgpu: async () => {
      const { initWebGPU } = await import('@tarflow/backend-webgpu');
      const info = await initWebGPU(options.webgpu);
      return { detail: info.adapterName, notes: info.workarounds, info };
    },
    webgl: async () => {
      await activate('webgl');
      const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
      const version = tf.env().getNumber('WEBGL_VERSION');
      const renderer = gl ? String(gl.getParameter(gl.RENDERER)) : 'unknown renderer';
      return { detail: `WebGL ${version} (${renderer})`, notes: [], info: { version, renderer } };
    },
    wasm: async () => {
      if (!options.wasmPaths) throw new Error("no wasmPaths given (the URL prefix where the page serves tfjs-backend-wasm's .wasm files)");
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(options.wasmPaths);
      await activate('wasm');
      patchWasmMatMul(); // transposed products take a slow path in tfjs-backend-wasm 4.22
      const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      const threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) ? wasm.getThreadsCount() : 1;
      const notes = threads === 1 && !globalThis.crossOriginIsolated ? ['wasm threads need a cross-origin isolated page (COOP/COEP headers)'] : [];
      return { detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`, notes, info: { simd, threads } };
    },
    cpu: async () => {
      await activate('cpu');
      return { detail: 'cpu (JavaScript)', notes: [], info: {} };
    },
  };
}

/**
 * Sets up and activates a tfjs backend: the one named, or for 'auto' the
 * first available of webgpu → webgl → wasm → cpu. Throws
 * BackendUnavailableError with the reason when the named one is unavailable.
 */
export function selectBackend(preference: BackendPreference = 'auto', options: SelectBackendOptions = {}): Promise<BackendSelection> {
  return selectWith(initializers(options), preference);
}
