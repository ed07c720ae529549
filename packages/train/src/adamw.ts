/**
 * AdamW (Loshchilov & Hutter) on tf.Variables, written out so that its state
 * is plain tensors that checkpoints can save and restore exactly.
 *
 * One step, for each parameter p with gradient g (PyTorch's `torch.optim.AdamW`):
 *
 *   p ← p · (1 − lr · weightDecay)                       (decoupled decay)
 *   m ← β₁ m + (1 − β₁) g
 *   v ← β₂ v + (1 − β₂) g²
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * where t counts steps from 1.
 */
import { tf } from '@tarflow/tensor';

export interface AdamWOptions {
  /** β₁ (default 0.9). */
  beta1?: number;
  /** β₂ (default 0.95). */
  beta2?: number;
  /** ε added to the denominator (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 1e-4, as the reference's training script). */
  weightDecay?: number;
}

/** An optimizer state snapshot: copies, owned by the caller. */
export interface AdamWState {
  /** Steps taken so far (t). */
  step: number;
  /** First moments, one per parameter, same shapes. */
  m: Float32Array[];
  /** Second moments, one per parameter, same shapes. */
  v: Float32Array[];
}

export class AdamW {
  readonly params: readonly tf.Variable[];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken so far. */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(params: readonly tf.Variable[], options: AdamWOptions = {}) {
    this.params = params;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.95;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-4;
    for (const [k, x] of Object.entries({ beta1: this.beta1, beta2: this.beta2 })) {
      if (!(x >= 0 && x < 1)) throw new RangeError(`AdamW: ${k} must be in [0, 1), got ${x}`);
    }
    if (!(this.eps > 0)) throw new RangeError(`AdamW: eps must be > 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new RangeError(`AdamW: weightDecay must be >= 0, got ${this.weightDecay}`);
    // In a tidy: tf.variable shares the initial tensor's data, and the tidy frees that tensor's own handle.
    this.m = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.v = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  /** Applies one update with learning rate `lr`; `grads[i]` is the gradient of `params[i]`. */
  apply(grads: readonly tf.Tensor[], lr: number): void {
    if (grads.length !== this.params.length) {
      throw new Error(`AdamW: got ${grads.length} gradients for ${this.params.length} parameters`);
    }
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`AdamW: learning rate must be a finite number >= 0, got ${lr}`);
    this.step += 1;
    const { beta1, beta2, eps } = this;
    const stepSize = lr / (1 - beta1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const decay = 1 - lr * this.weightDecay;
    tf.tidy(() => {
      const b1 = tf.scalar(beta1);
      const b1c = tf.scalar(1 - beta1);
      const b2 = tf.scalar(beta2);
      const b2c = tf.scalar(1 - beta2);
      const dec = tf.scalar(decay);
      const ss = tf.scalar(stepSize);
      const bc = tf.scalar(bc2Sqrt);
      const e = tf.scalar(eps);
      this.params.forEach((p, i) => {
        const g = grads[i];
        if (!g) throw new Error(`AdamW: missing gradient for parameter ${i} (${p.name})`);
        if (g.size !== p.size) throw new Error(`AdamW: gradient ${i} has shape [${g.shape}] but parameter '${p.name}' has [${p.shape}]`);
        const m = tf.add(tf.mul(this.m[i], b1), tf.mul(g, b1c));
        const v = tf.add(tf.mul(this.v[i], b2), tf.mul(tf.square(g), b2c));
        const denom = tf.add(tf.div(tf.sqrt(v), bc), e);
        const decayed = this.weightDecay > 0 ? tf.mul(p, dec) : p;
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), ss)));
        this.m[i].assign(m);
        this.v[i].assign(v);
      });
    });
  }

  /** A copy of the state (moments as Float32Arrays). */
  getState(): AdamWState {
    return {
      step: this.step,
      m: this.m.map((t) => t.dataSync() as Float32Array).map((a) => a.slice()),
      v: this.v.map((t) => t.dataSync() as Float32Array).map((a) => a.slice()),
    };
  }

  /** Replaces the state with `state` (checked against the parameters' sizes). */
  setState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`AdamW state: step must be a non-negative integer, got ${state.step}`);
    for (const [key, list] of [['m', state.m], ['v', state.v]] as const) {
      if (list.length !== this.params.length) {
        throw new Error(`AdamW state: '${key}' holds ${list.length} tensors but the optimizer has ${this.params.length} parameters`);
      }
      list.forEach((a, i) => {
        if (a.length !== this.params[i].size) {
          throw new Error(`AdamW state: ${key}[${i}] has ${a.length} values but parameter ${i} has ${this.params[i].size}`);
        }
      });
    }
    this.step = state.step;
    this.params.forEach((p, i) => {
      tf.tidy(() => {
        this.m[i].assign(tf.tensor(state.m[i], p.shape, 'float32'));
        this.v[i].assign(tf.tensor(state.v[i], p.shape, 'float32'));
      });
    });
  }

  /** Frees the moment tensors (not the parameters). */
  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

/**
 * Global-norm clipping as `torch.nn.utils.clip_grad_norm_`: when the L2 norm
 * over all gradients exceeds `maxNorm`, every gradient is scaled by
 * maxNorm / (norm + 1e-6). Returns the norm before clipping and the (new or
 * same) gradients; `maxNorm` ≤ 0 or ∞ disables clipping. The caller owns the
 * returned tensors (those that were scaled are new; the rest are the inputs).
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { norm: number; grads: tf.Tensor[]; clipped: boolean } {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm) || !(norm > maxNorm)) return { norm, grads: [...grads], clipped: false };
  const coef = maxNorm / (norm + 1e-6);
  return { norm, grads: tf.tidy(() => grads.map((g) => tf.mul(g, coef))), clipped: true };
}
