/**
 * Small dense linear algebra in float64 on plain arrays: matrix norms and a
 * symmetric eigen-solver (cyclic Jacobi), enough for CRM/IGM norms and the
 * Fréchet distance. Matrices are row-major Float64Arrays with explicit sizes.
 */

export type MatrixNorm = '2' | '1' | 'fro';

export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array; // row-major
}

export function matrix(rows: number, cols: number, data: ArrayLike<number>): Matrix {
  if (data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for a ${rows}×${cols} matrix`);
  return { rows, cols, data: Float64Array.from(data) };
}

/** AᵀA (if cols ≤ rows) or AAᵀ: the smaller Gram matrix, which has the same nonzero eigenvalues. */
function smallGram(a: Matrix): { n: number; g: Float64Array } {
  const { rows: m, cols: n, data } = a;
  if (n <= m) {
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        let s = 0;
        for (let r = 0; r < m; r++) s += data[r * n + i] * data[r * n + j];
        g[i * n + j] = s;
        g[j * n + i] = s;
      }
    }
    return { n, g };
  }
  const g = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += data[i * n + c] * data[j * n + c];
      g[i * m + j] = s;
      g[j * m + i] = s;
    }
  }
  return { n: m, g };
}

/**
 * Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations.
 * Returns the eigenvalues and (if asked) the eigenvectors as columns of V.
 */
export function symmetricEigen(a: Float64Array, n: number, wantVectors = false): { values: Float64Array; vectors?: Float64Array } {
  const A = Float64Array.from(a);
  const V = wantVectors ? new Float64Array(n * n) : undefined;
  if (V) for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += A[i * n + i] * A[i * n + i];
      for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const app = A[p * n + p];
        const aqq = A[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        if (V) {
          for (let k = 0; k < n; k++) {
            const vkp = V[k * n + p];
            const vkq = V[k * n + q];
            V[k * n + p] = c * vkp - s * vkq;
            V[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/** Largest singular value. */
export function spectralNorm(a: Matrix): number {
  const { n, g } = smallGram(a);
  const { values } = symmetricEigen(g, n);
  return Math.sqrt(Math.max(0, ...values));
}

/** The matrix norm of the given kind: '2' (largest singular value), '1' (max column sum) or 'fro'. */
export function matrixNorm(a: Matrix, kind: MatrixNorm = '2'): number {
  if (kind === '2') return spectralNorm(a);
  if (kind === 'fro') {
    let s = 0;
    for (const v of a.data) s += v * v;
    return Math.sqrt(s);
  }
  if (kind === '1') {
    let best = 0;
    for (let c = 0; c < a.cols; c++) {
      let s = 0;
      for (let r = 0; r < a.rows; r++) s += Math.abs(a.data[r * a.cols + c]);
      best = Math.max(best, s);
    }
    return best;
  }
  throw new Error(`unknown matrix norm '${kind as string}' (expected '2', '1' or 'fro')`);
}

/** Mean and covariance (unbiased) of row vectors: data is [n, d]. */
export function meanCov(data: ArrayLike<number>, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  if (n < 2) throw new Error(`covariance needs at least 2 samples, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  const centered = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) centered[j] = data[i * d + j] - mean[j];
    for (let j = 0; j < d; j++) {
      const cj = centered[j];
      for (let k = j; k < d; k++) cov[j * d + k] += cj * centered[k];
    }
  }
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      cov[j * d + k] /= n - 1;
      cov[k * d + j] = cov[j * d + k];
    }
  }
  return { mean, cov };
}

/** Symmetric PSD square root via the eigen-decomposition. */
function psdSqrt(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n, true);
  const V = vectors!;
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vi = V[i * n + k] * s;
      for (let j = 0; j < n; j++) out[i * n + j] += vi * V[j * n + k];
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}

/**
 * Fréchet distance between two Gaussians:
 * |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}), with Tr((Σ₁Σ₂)^{1/2}) computed as
 * the trace of (√Σ₁ Σ₂ √Σ₁)^{1/2} (symmetric, so the eigen-solver applies).
 */
export function frechetDistance(m1: Float64Array, c1: Float64Array, m2: Float64Array, c2: Float64Array, d: number): number {
  let diff = 0;
  for (let i = 0; i < d; i++) diff += (m1[i] - m2[i]) ** 2;
  const s1 = psdSqrt(c1, d);
  const inner = matmul(matmul(s1, c2, d), s1, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const v = (inner[i * d + j] + inner[j * d + i]) / 2;
      inner[i * d + j] = v;
      inner[j * d + i] = v;
    }
  }
  const { values } = symmetricEigen(inner, d);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(0, v));
  let tr = 0;
  for (let i = 0; i < d; i++) tr += c1[i * d + i] + c2[i * d + i];
  return diff + tr - 2 * trSqrt;
}
