/**
 * The platform-independent half of @tarflow/backend-webgpu: asking a GPU
 * (navigator.gpu in a browser, Dawn in Node) for an adapter and registering
 * tfjs' WebGPU backend on that adapter.
 *
 * No precision flags are set: every reference conformance case passes at the
 * fixtures' tolerance with tfjs' WebGPU kernels as they are (docs/backends.md).
 * What does differ is reading back synchronously: see cpu-reductions.ts,
 * sync-readback.ts (Node) and docs/backends.md (browsers).
 */
import { tf } from '@tarflow/tensor';
import { installCpuReductions } from './cpu-reductions.js';

/** What the adapter says about itself (GPUAdapterInfo), as plain data. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software/CPU fallback adapter (SwiftShader, lavapipe), where the runtime says. */
  isFallbackAdapter?: boolean;
}

/** What initWebGPU set up. */
export interface WebGPUInfo {
  backend: 'webgpu';
  runtime: 'browser' | 'node';
  adapter: AdapterSummary;
  /** The adapter in one line, e.g. "nvidia ampere (NVIDIA H100 80GB HBM3)". */
  adapterName: string;
  /** Workarounds applied, one line each (see docs/backends.md). */
  workarounds: string[];
  /**
   * Whether tensor.dataSync() is expected to work: in Node through
   * sync-readback.ts; in browsers through tfjs' OffscreenCanvas path, which
   * exists but is unreliable on software adapters (docs/backends.md).
   */
  syncReadback: boolean;
}

/** Thrown when WebGPU cannot be used; `reason` says why in one sentence. */
export class WebGPUUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`WebGPU is unavailable: ${reason}`);
    this.name = 'WebGPUUnavailableError';
  }
}

export interface InitWebGPUOptions {
  /** Adapter power preference (default 'high-performance'). */
  powerPreference?: GPUPowerPreference;
  /** Ask for the fallback (software) adapter. */
  forceFallbackAdapter?: boolean;
}

/** Result of a probe: an adapter, or the reason there is none. */
export type WebGPUProbe = { available: true; adapter: AdapterSummary; adapterName: string } | { available: false; reason: string };

/** Plain-data copy of an adapter's info. */
export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = ((adapter as { info?: GPUAdapterInfo }).info ?? {}) as Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    ...(fallback !== undefined ? { isFallbackAdapter: fallback } : {}),
  };
}

/** One line naming an adapter: "vendor architecture (description)". */
export function formatAdapter(a: AdapterSummary): string {
  const head = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const detail = a.description || a.device;
  return `${head}${detail ? ` (${detail})` : ''}${a.isFallbackAdapter ? ', software fallback' : ''}`;
}

/** Requests an adapter, or throws WebGPUUnavailableError saying why there is none. */
export async function requestAdapter(gpu: GPU, options: InitWebGPUOptions, noAdapterHint = ''): Promise<GPUAdapter> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({
      powerPreference: options.powerPreference ?? 'high-performance',
      ...(options.forceFallbackAdapter ? { forceFallbackAdapter: true } : {}),
    });
  } catch (e) {
    throw new WebGPUUnavailableError(`navigator.gpu.requestAdapter() failed: ${(e as Error).message}`);
  }
  if (!adapter) {
    throw new WebGPUUnavailableError(`navigator.gpu.requestAdapter() found no adapter${noAdapterHint ? ` (${noAdapterHint})` : ''}`);
  }
  return adapter;
}

/** Finds an adapter with `find` and describes it, or gives the reason there is none (a WebGPUUnavailableError's). */
export async function probeAdapter(find: () => Promise<GPUAdapter>): Promise<WebGPUProbe> {
  try {
    const summary = summarizeAdapter(await find());
    return { available: true, adapter: summary, adapterName: formatAdapter(summary) };
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) return { available: false, reason: e.reason };
    throw e;
  }
}

/**
 * The device tfjs' own factory would create (timestamp queries where offered,
 * the adapter's full limits for buffers and workgroups).
 */
async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const l = adapter.limits;
  try {
    return await adapter.requestDevice({
      requiredFeatures: features,
      requiredLimits: {
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (e) {
    throw new WebGPUUnavailableError(`the adapter refused to create a device: ${(e as Error).message}`);
  }
}

/**
 * Registers tfjs' WebGPU backend on `adapter` (replacing any factory the
 * tfjs package registered on import, so the adapter reported is the one used)
 * and makes it the active tfjs backend.
 */
export async function activateWebGPU(
  adapter: GPUAdapter,
  runtime: 'browser' | 'node',
): Promise<{ info: WebGPUInfo; backend: unknown }> {
  // Importing the package registers its kernels under the name 'webgpu'.
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  const summary = summarizeAdapter(adapter);
  const device = await requestDevice(adapter);
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  const adapterInfo = (adapter as { info?: GPUAdapterInfo }).info;
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(device, adapterInfo), 3);
  const replaced = installCpuReductions();
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new WebGPUUnavailableError(`tfjs could not initialise its WebGPU backend on ${formatAdapter(summary)}`);
  await tf.ready();
  const backend = tf.backend();
  return {
    info: {
      backend: 'webgpu',
      runtime,
      adapter: summary,
      adapterName: formatAdapter(summary),
      workarounds: [`${replaced.join('/')} of small CPU-resident tensors run on the CPU (no GPU round trip for checks read synchronously)`],
      syncReadback: runtime === 'browser' && typeof OffscreenCanvas !== 'undefined',
    },
    backend,
  };
}
