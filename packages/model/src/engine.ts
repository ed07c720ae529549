/**
 * The sampling engine behind a block's CausalAffineMap. Sampling inverts
 *
 *     x_t = z_t · exp(α_t) + γ_t,   (α_t, γ_t) = f(x_<t),
 *
 * and the solvers only see the map; how f is evaluated is the engine's:
 *
 *   plain — the model's own tfjs ops (tarflow.ts): every backend, the
 *           reference implementation, the one training and autodiff use;
 *   fused — @tarflow/kernels' four fused kernels over a KV cache written in
 *           place (cpu, wasm, and webgpu as WGSL programs on devices with
 *           WebGPU's default limits): the same map in ~12 kernels per
 *           block-step.
 *
 * 'auto' (the default) takes fused where the backend supports it; 'fused' on
 * a backend without the kernels falls back to plain and says why — never a
 * different answer.
 */
import { tf } from '@tarflow/tensor';
import { fusedSupport } from '@tarflow/kernels';

export type SamplingEngine = 'auto' | 'fused' | 'plain';

/** The engine a sampling run used, and why it is plain when fused was asked for (or chosen automatically) and is unavailable. */
export interface EngineChoice {
  name: 'fused' | 'plain';
  reason?: string;
}

/** The engine that runs on the active backend for a requested one. */
export function chooseEngine(engine: SamplingEngine = 'auto'): EngineChoice {
  if (engine !== 'auto' && engine !== 'fused' && engine !== 'plain') {
    throw new Error(`engine must be 'auto', 'fused' or 'plain', got ${JSON.stringify(engine)}`);
  }
  if (engine === 'plain') return { name: 'plain' };
  const support = fusedSupport(tf.getBackend());
  return support.ok ? { name: 'fused' } : { name: 'plain', reason: support.reason };
}
