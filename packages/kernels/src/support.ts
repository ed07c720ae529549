import { tf } from '@tarflow/tensor';
import { FUSED_BACKENDS, FUSED_KERNELS, registerFusedKernels } from './kernels.js';
import { webgpuShortfall } from './webgpu/support.js';

export type FusedSupport = { ok: true } | { ok: false; reason: string };

/** Backends with fused kernels: those whose storage JavaScript addresses (cpu, wasm), and webgpu (WGSL programs). */
export const FUSED_SUPPORTED_BACKENDS = [...FUSED_BACKENDS, 'webgpu'] as const;

/**
 * Whether the fused kernels run on a backend. When they do not, the caller
 * uses the plain tfjs path; the reason says why.
 */
export function fusedSupport(backendName: string): FusedSupport {
  if (!(FUSED_SUPPORTED_BACKENDS as readonly string[]).includes(backendName)) {
    return { ok: false, reason: `no fused TarFlow kernels for the '${backendName}' backend (they exist for ${FUSED_SUPPORTED_BACKENDS.join(', ')})` };
  }
  const backend = tf.engine().registryFactory[backendName] ? tf.findBackend(backendName) : null;
  if (backend && backendName === 'wasm' && typeof (backend as { typedArrayFromHeap?: unknown }).typedArrayFromHeap !== 'function') {
    return { ok: false, reason: 'this wasm backend does not expose its heap (typedArrayFromHeap)' };
  }
  if (backendName === 'webgpu') {
    registerFusedKernels();
    const missing = FUSED_KERNELS.filter((k) => !tf.getKernel(k, 'webgpu'));
    if (missing.length > 0) return { ok: false, reason: `kernels not registered for 'webgpu': ${missing.join(', ')}` };
    if (!backend) return { ok: false, reason: "the 'webgpu' backend is not registered (nothing to check the device of)" };
    const shortfall = webgpuShortfall(backend);
    if (shortfall) return { ok: false, reason: shortfall };
  }
  return { ok: true };
}
