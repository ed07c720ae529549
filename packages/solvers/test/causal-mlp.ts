/**
 * A tiny masked autoregressive MLP — a causal affine map that has nothing to do
 * with TarFlow — used to show the solvers only need the CausalAffineMap interface.
 *
 * Position t sees a decayed running sum of the inputs up to t:
 *   h_t = Σ_{s ≤ t} ρ^{t−s} x_s W,  logScale_t = s·tanh(h_t A),  shift_t = tanh(h_t B)
 * Its cache is the running sum h at the last cached position.
 */
import { tf, tfSeed, type PatchSeq } from '@tarflow/tensor';
import type { CausalAffineMap } from '../src/index.js';

/** [B, n, d] × [d, h] → [B, n, h]. */
function project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [B, n, d] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [B * n, d]), w as tf.Tensor2D), [B, n, w.shape[1]!]);
}

export interface MlpCache {
  length: number;
  h: tf.Tensor3D | null; // [B, 1, H]: running state after position length − 1
  history: tf.Tensor3D | null; // [B, length, H]: states of every cached position (for truncation)
}

export function causalMlp(tokens: number, dim: number, seed: number, opts: { hidden?: number; scale?: number; gain?: number; coupling?: number } = {}) {
  const H = opts.hidden ?? 8;
  const W = tf.randomNormal([dim, H], 0, opts.coupling ?? 0.5, 'float32', tfSeed(seed));
  const A = tf.randomNormal([H, dim], 0, 0.5, 'float32', seed + 1);
  const Bm = tf.randomNormal([H, dim], 0, 0.5, 'float32', seed + 2);
  const rho = 0.7;
  const s = opts.scale ?? 0.3;
  const gain = opts.gain ?? 0;
  const map: CausalAffineMap<MlpCache> = {
    tokens,
    dim,
    emptyCache: () => ({ length: 0, h: null, history: null }),
    evaluate(x: PatchSeq, start: number, cache: MlpCache) {
      if (cache.length !== start) throw new Error(`cache covers ${cache.length}, start ${start}`);
      const n = x.shape[1];
      const out = tf.tidy(() => {
        const proj = project(x, W);
        let h: tf.Tensor = cache.h ?? tf.zeros([x.shape[0], 1, H]);
        const states: tf.Tensor[] = [];
        for (let i = 0; i < n; i++) {
          h = tf.add(tf.mul(h, rho), tf.slice(proj, [0, i, 0], [-1, 1, -1]));
          states.push(h);
        }
        const hs = tf.concat(states, 1);
        const logScale = tf.mul(tf.tanh(project(hs, A)), s);
        // An optional linear feedback of strength `gain` makes Jacobi unstable.
        const shift = tf.add(tf.tanh(project(hs, Bm)), tf.mul(x, gain));
        const history = cache.history ? tf.concat([cache.history, hs], 1) : hs;
        return { logScale, shift, h: states[n - 1], history };
      });
      return {
        params: { logScale: out.logScale as PatchSeq, shift: out.shift as PatchSeq },
        cache: { length: start + n, h: out.h as tf.Tensor3D, history: out.history as tf.Tensor3D },
      };
    },
    truncateCache(cache, length) {
      if (length === 0 || !cache.history) return { length: 0, h: null, history: null };
      return tf.tidy(() => ({
        length,
        h: tf.slice(cache.history!, [0, length - 1, 0], [-1, 1, -1]) as tf.Tensor3D,
        history: tf.slice(cache.history!, [0, 0, 0], [-1, length, -1]) as tf.Tensor3D,
      }));
    },
    disposeCache(cache) {
      tf.dispose([cache.h ?? [], cache.history ?? []]);
    },
  };
  return { map, dispose: () => tf.dispose([W, A, Bm]) };
}
