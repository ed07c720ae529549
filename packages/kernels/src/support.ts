import { tf } from '@tarflow/tensor';
import { FUSED_BACKENDS } from './kernels.js';

export type FusedSupport = { ok: true } | { ok: false; reason: string };

/**
 * Whether the fused kernels run on a backend. When they do not, the caller
 * uses the plain tfjs path; the reason says why.
 */
export function fusedSupport(backendName: string): FusedSupport {
  if (!(FUSED_BACKENDS as readonly string[]).includes(backendName)) {
    return { ok: false, reason: `no fused TarFlow kernels for the '${backendName}' backend (they exist for ${FUSED_BACKENDS.join(' and ')})` };
  }
  const backend = tf.engine().registryFactory[backendName] ? tf.findBackend(backendName) : null;
  if (backend && backendName === 'wasm' && typeof (backend as { typedArrayFromHeap?: unknown }).typedArrayFromHeap !== 'function') {
    return { ok: false, reason: 'this wasm backend does not expose its heap (typedArrayFromHeap)' };
  }
  return { ok: true };
}
