/**
 * @tarflow/backend-webgpu — tfjs' WebGPU backend for TarFlow.
 *
 * This is the browser entry: navigator.gpu is the browser's. Node resolves the
 * package's "node" export condition to node.ts instead, which gets
 * navigator.gpu from Dawn (the npm package `webgpu`) and makes dataSync() work.
 * Both export the same functions.
 */
import {
  activateWebGPU,
  probeAdapter,
  requestAdapter,
  WebGPUUnavailableError,
  type InitWebGPUOptions,
  type WebGPUInfo,
  type WebGPUProbe,
} from './common.js';

export * from './common.js';
export { CPU_REDUCTION_KERNELS, installCpuReductions } from './cpu-reductions.js';

function browserGPU(): GPU {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
    throw new WebGPUUnavailableError(
      secure === false
        ? 'navigator.gpu is missing because the page is not a secure context (serve it from https or localhost)'
        : 'this browser does not expose navigator.gpu (WebGPU is disabled or unsupported)',
    );
  }
  return gpu;
}

/** Whether the browser has a WebGPU adapter, without touching tfjs. */
export async function probeWebGPU(options: InitWebGPUOptions = {}): Promise<WebGPUProbe> {
  return probeAdapter(() => requestAdapter(browserGPU(), options));
}

/**
 * Sets up tfjs' WebGPU backend on the browser's adapter and makes it the
 * active backend. Throws WebGPUUnavailableError naming the reason when there
 * is none.
 */
export async function initWebGPU(options: InitWebGPUOptions = {}): Promise<WebGPUInfo> {
  const adapter = await requestAdapter(browserGPU(), options);
  return (await activateWebGPU(adapter, 'browser')).info;
}
