/**
 * @tarflow/backends for Node (the "node" export condition): webgpu through
 * Dawn (@tarflow/backend-webgpu), no webgl, wasm and cpu through
 * @tarflow/backend-node. Each package is imported only when tried.
 */
import { selectWith, type BackendInitializer, type BackendName, type BackendPreference, type BackendSelection } from './select.js';
import type { NodeWebGPUOptions } from '@tarflow/backend-webgpu/node';

export * from './select.js';

export interface SelectBackendOptions {
  /** Options for WebGPU (adapter power preference, Dawn options, …). */
  webgpu?: NodeWebGPUOptions;
  /** Folder of tfjs-backend-wasm's .wasm files, for bundled programs. */
  wasmDir?: string;
}

function initializers(options: SelectBackendOptions): Record<BackendName, BackendInitializer> {
  return {
    webgpu: async () => {
      const { initWebGPU } = await import('@tarflow/backend-webgpu/node');
      const info = await initWebGPU(options.webgpu);
      return { detail: `${info.adapterName} via Dawn`, notes: info.workarounds, info };
    },
    webgl: async () => {
      throw new Error('WebGL exists in browsers only');
    },
    wasm: async () => {
      const { initWasm } = await import('@tarflow/backend-node');
      const info = await initWasm({ wasmDir: options.wasmDir });
      return { detail: info.summary, notes: info.notes, info };
    },
    cpu: async () => {
      const { initCpu } = await import('@tarflow/backend-node');
      const info = await initCpu();
      return { detail: info.summary, notes: info.notes, info };
    },
  };
}

/**
 * Sets up and activates a tfjs backend: the one named, or for 'auto' the
 * first available of webgpu → wasm → cpu (webgl is browser-only). Throws
 * BackendUnavailableError with the reason when the named one is unavailable.
 */
export function selectBackend(preference: BackendPreference = 'auto', options: SelectBackendOptions = {}): Promise<BackendSelection> {
  return selectWith(initializers(options), preference);
}
