/**
 * The arithmetic of the fused kernels over flat float32 arrays (row-major),
 * shared by every backend whose storage JavaScript can address (cpu, wasm).
 * Each function is the plain tfjs op sequence it replaces, written as loops:
 *
 *   LayerNorm   y = (x − mean) / √(var + ε) · g + β        (biased variance, ε = 1e-5)
 *   Linear      y = x Wᵀ + b                               (W in PyTorch's [out, in] layout)
 *   GELU        y = ½ x (1 + erf(x / √2))                   (erf as tfjs computes it)
 *   Attention   o = softmax(s · q Kᵀ + mask) V              (s = head_dim^−½ / attnTemp, per row)
 *   Guidance    p = p_c + w (p_c − p_u)                     (w = scale, or scale · (t + 1) / (T − 1) annealed)
 */

export const LAYER_NORM_EPS = 1e-5;

// Abramowitz & Stegun 7.1.26, the erf of tfjs' cpu backend (tfjs-core backend_util.ERF_*).
const ERF_P = 0.3275911;
const ERF_A1 = 0.254829592;
const ERF_A2 = -0.284496736;
const ERF_A3 = 1.421413741;
const ERF_A4 = -1.453152027;
const ERF_A5 = 1.061405429;

export function erf(x: number): number {
  const sign = Math.sign(x);
  const v = Math.abs(x);
  const t = 1 / (1 + ERF_P * v);
  return sign * (1 - ((((ERF_A5 * t + ERF_A4) * t + ERF_A3) * t + ERF_A2) * t + ERF_A1) * t * Math.exp(-v * v));
}

export function gelu(x: number): number {
  return x * 0.5 * (1 + erf(x * Math.SQRT1_2));
}

/** LayerNorm of M rows of K values: src → dst (may be the same array at the same offset). */
export function layerNormRows(src: Float32Array, dst: Float32Array, M: number, K: number, g: Float32Array, beta: Float32Array): void {
  for (let i = 0; i < M; i++) {
    const o = i * K;
    let mean = 0;
    for (let k = 0; k < K; k++) mean += src[o + k];
    mean /= K;
    let variance = 0;
    for (let k = 0; k < K; k++) {
      const d = src[o + k] - mean;
      variance += d * d;
    }
    const inv = 1 / Math.sqrt(variance / K + LAYER_NORM_EPS);
    for (let k = 0; k < K; k++) dst[o + k] = (src[o + k] - mean) * inv * g[k] + beta[k];
  }
}

/**
 * y[M, N] = x[M, K] Wᵀ + b with W [N, K]: four outputs at a time (independent
 * accumulators sharing each x[k]), float64 sums as tfjs' cpu matMul keeps them.
 */
export function linearRows(x: Float32Array, M: number, K: number, w: Float32Array, b: Float32Array, N: number, y: Float32Array): void {
  for (let i = 0; i < M; i++) {
    const xo = i * K;
    const yo = i * N;
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const w0 = n * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < K; k++) {
        const v = x[xo + k];
        a0 += v * w[w0 + k];
        a1 += v * w[w1 + k];
        a2 += v * w[w2 + k];
        a3 += v * w[w3 + k];
      }
      y[yo + n] = a0 + b[n];
      y[yo + n + 1] = a1 + b[n + 1];
      y[yo + n + 2] = a2 + b[n + 2];
      y[yo + n + 3] = a3 + b[n + 3];
    }
    for (; n < N; n++) {
      const wo = n * K;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[xo + k] * w[wo + k];
      y[yo + n] = acc + b[n];
    }
  }
}

/** In place: y[M, N] ← y + b. */
export function addBias(y: Float32Array, M: number, N: number, b: Float32Array): void {
  for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) y[i * N + n] += b[n];
}

/** In place: y ← GELU(y) and/or y ← y + residual. */
export function epilogue(y: Float32Array, size: number, useGelu: boolean, residual: Float32Array | null): void {
  if (useGelu) for (let i = 0; i < size; i++) y[i] = gelu(y[i]);
  if (residual) for (let i = 0; i < size; i++) y[i] += residual[i];
}

/**
 * Input embedding of R = copies · B rows over n positions:
 * h[r, i] = x[r mod B, i] Wᵀ + b + pos[start + i] + class_r, where class_r is
 * the embedding of row r's label, or the mean embedding for label −1, for no
 * labels, and for every row of the second copy (the unconditional branch).
 */
export function embedRows(
  x: Float32Array,
  B: number,
  n: number,
  D: number,
  w: Float32Array,
  b: Float32Array,
  C: number,
  pos: Float32Array,
  start: number,
  labels: Int32Array | null,
  table: Float32Array | null,
  classes: number,
  copies: number,
  h: Float32Array,
): void {
  let mean: Float64Array | null = null;
  if (table) {
    mean = new Float64Array(C);
    for (let k = 0; k < classes; k++) for (let c = 0; c < C; c++) mean[c] += table[k * C + c];
    for (let c = 0; c < C; c++) mean[c] /= classes;
  }
  const cls = new Float64Array(C);
  for (let r = 0; r < copies * B; r++) {
    const src = r % B;
    if (table && mean) {
      const label = r < B && labels ? labels[src] : -1;
      if (label >= classes) throw new Error(`fused embedding: label ${label} is not a class of this model (0…${classes - 1})`);
      if (label >= 0) for (let c = 0; c < C; c++) cls[c] = table[label * C + c];
      else cls.set(mean);
    }
    for (let i = 0; i < n; i++) {
      const xo = (src * n + i) * D;
      const ho = (r * n + i) * C;
      const po = (start + i) * C;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += x[xo + d] * w[c * D + d];
        h[ho + c] = acc + b[c] + pos[po + c] + (table ? cls[c] : 0);
      }
    }
  }
}

/**
 * Attention of n query positions [start, start + n) over a preallocated cache
 * [L, 2, R, H, T, hd] (layer, key/value, row, head, position, channel): first
 * writes the new positions' keys and values into layer `layer` of the cache,
 * then lets query i attend to keys 0 … start + i (causal). qkv is [R, n, 3C]
 * with C = H · hd (queries, keys, values, each head-major); out is [R, n, C].
 */
export function attendRows(
  qkv: Float32Array,
  cache: Float32Array,
  out: Float32Array,
  R: number,
  n: number,
  H: number,
  hd: number,
  T: number,
  layer: number,
  start: number,
  scales: ArrayLike<number>,
): void {
  const C = H * hd;
  const kBase = (layer * 2) * R * H * T * hd;
  const vBase = (layer * 2 + 1) * R * H * T * hd;
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < n; i++) {
      const src = (r * n + i) * 3 * C;
      for (let h = 0; h < H; h++) {
        const dst = ((r * H + h) * T + start + i) * hd;
        for (let d = 0; d < hd; d++) {
          cache[kBase + dst + d] = qkv[src + C + h * hd + d];
          cache[vBase + dst + d] = qkv[src + 2 * C + h * hd + d];
        }
      }
    }
  }
  const scores = new Float64Array(start + n);
  const acc = new Float64Array(hd);
  for (let r = 0; r < R; r++) {
    const s = scales[r];
    for (let h = 0; h < H; h++) {
      const kv = (r * H + h) * T * hd;
      for (let i = 0; i < n; i++) {
        const q = (r * n + i) * 3 * C + h * hd;
        const total = start + i + 1;
        let max = -Infinity;
        for (let j = 0; j < total; j++) {
          const k = kBase + kv + j * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qkv[q + d] * cache[k + d];
          const v = Math.fround(dot) * s;
          scores[j] = v;
          if (v > max) max = v;
        }
        let sum = 0;
        for (let j = 0; j < total; j++) {
          const e = Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        acc.fill(0);
        for (let j = 0; j < total; j++) {
          const p = scores[j] / sum;
          const v = vBase + kv + j * hd;
          for (let d = 0; d < hd; d++) acc[d] += p * cache[v + d];
        }
        const o = (r * n + i) * C + h * hd;
        for (let d = 0; d < hd; d++) out[o + d] = acc[d];
      }
    }
  }
}

export interface GuidanceAttrs {
  scale: number;
  on: 'alpha' | 'gamma' | 'both';
  annealed: boolean;
}

/**
 * The affine output of B samples over n positions from the projection
 * y [R, n, P] (R = B, or 2B with the unconditional rows second; P = 2D with
 * log-scale then shift, or D: shift only, log-scale 0), guided when R = 2B.
 */
export function affineRows(
  y: Float32Array,
  B: number,
  n: number,
  D: number,
  nvp: boolean,
  guidance: GuidanceAttrs | null,
  tokens: number,
  start: number,
  logScale: Float32Array,
  shift: Float32Array,
): void {
  const P = nvp ? 2 * D : D;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const w = guidance ? (guidance.annealed ? Math.fround(((start + i + 1) / (tokens - 1)) * guidance.scale) : guidance.scale) : 0;
      const c = (b * n + i) * P;
      const u = ((b + B) * n + i) * P;
      const o = (b * n + i) * D;
      for (let d = 0; d < D; d++) {
        let a = nvp ? y[c + d] : 0;
        let g = y[c + (nvp ? D : 0) + d];
        if (guidance) {
          if (nvp && guidance.on !== 'gamma') a = a + w * Math.fround(a - y[u + d]);
          if (guidance.on !== 'alpha') g = g + w * Math.fround(g - y[u + (nvp ? D : 0) + d]);
        }
        logScale[o + d] = a;
        shift[o + d] = g;
      }
    }
  }
}
