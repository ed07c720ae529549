/**
 * The Convergence Ranking Metric (CRM) and Initial Guessing Metric (IGM) of
 * Liu & Qin (2025), per block, from a calibration batch passed forward.
 *
 * For block i (forward order) with input x (after its permutation), shifted
 * affine outputs (a, c) and output z = exp(−a)·(x − c):
 *   CRM_i = ‖mean_B(exp(−a)·x)‖ · ‖W_a‖ + ‖W_c‖
 * with W_a, W_c the log-scale and shift rows of proj_out.weight; and for an
 * initial guess g, IGM_i(g) = ‖mean_B(exp(a_g)·z + c_g − x)‖ where (a_g, c_g) are
 * the block's outputs on g: how far one Jacobi step from g lands from the truth.
 */
import { tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import type { TarFlow } from '@tarflow/model';
import { matrix, matrixNorm, type MatrixNorm } from './linalg.js';

export interface BlockConvergence {
  /** Index in forward order. */
  forwardIndex: number;
  /** Index in sampling order (what strategies use). */
  samplingIndex: number;
  /** [‖mean_B(exp(−a)·x)‖, ‖W_a‖, ‖W_c‖]. */
  crmTerms: [number, number, number];
  /** first · second + third. */
  crm: number;
  /** This block's share of the summed CRM. */
  crmShare: number;
  /** IGM of the two initial guesses: [noise guess (g = z), zeros guess (g = [z₀, 0, …])]. */
  igm: [number, number];
}

export interface ConvergenceMetrics {
  norm: MatrixNorm;
  /** Per block, in forward order. */
  blocks: BlockConvergence[];
}

/** mean over the batch of a [B, T, D] tensor computed by `f`, as a [T, D] host matrix. */
function meanOverBatch(f: () => tf.Tensor): { rows: number; cols: number; data: Float32Array } {
  const m = tf.tidy(() => tf.mean(f(), 0));
  const data = m.dataSync() as Float32Array;
  const [rows, cols] = m.shape;
  m.dispose();
  return { rows, cols, data };
}

function norm2d(t: { rows: number; cols: number; data: ArrayLike<number> }, kind: MatrixNorm): number {
  return matrixNorm(matrix(t.rows, t.cols, t.data), kind);
}

/**
 * CRM and IGM of every block on a calibration batch of images [B, C, H, W]
 * (values in the model's data range). Labels default to none: the mean class
 * embedding, as the metric is defined.
 */
export function convergenceMetrics(
  model: TarFlow,
  images: ImageBatch,
  options: { norm?: MatrixNorm; labels?: tf.Tensor1D } = {},
): ConvergenceMetrics {
  const kind = options.norm ?? '2';
  if (!['2', '1', 'fro'].includes(kind)) throw new Error(`unknown matrix norm '${kind}' (expected '2', '1' or 'fro')`);
  const D = model.patchDim;
  const blocks: BlockConvergence[] = [];
  let x = model.patchify(images);
  try {
    for (let i = 0; i < model.blocks.length; i++) {
      const xp = model.permuteForBlock(i, x);
      const { logScale: a, shift: c } = model.shiftedParams(i, xp, options.labels);
      const z = tf.tidy(() => tf.mul(tf.sub(xp, c), tf.exp(tf.neg(a)))) as PatchSeq;

      const first = norm2d(meanOverBatch(() => tf.mul(tf.exp(tf.neg(a)), xp)), kind);
      const W = model.blocks[i].projOut.weight; // [2D, C]
      const C = W.shape[1] as number;
      const w = W.dataSync() as Float32Array;
      const wa = model.config.nvp ? norm2d({ rows: D, cols: C, data: w.subarray(0, D * C) }, kind) : 0;
      const wc = norm2d({ rows: D, cols: C, data: model.config.nvp ? w.subarray(D * C, 2 * D * C) : w }, kind);

      const igmOf = (guess: PatchSeq): number => {
        const g = model.shiftedParams(i, guess, options.labels);
        const v = norm2d(meanOverBatch(() => tf.sub(tf.add(tf.mul(tf.exp(g.logScale), z), g.shift), xp)), kind);
        tf.dispose([g.logScale, g.shift]);
        return v;
      };
      const zerosGuess = tf.tidy(() => {
        const [B, T] = z.shape;
        return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), tf.zeros([B, T - 1, D])], 1);
      }) as PatchSeq;
      const igm: [number, number] = [igmOf(z), igmOf(zerosGuess)];

      blocks.push({
        forwardIndex: i,
        samplingIndex: model.blocks.length - 1 - i,
        crmTerms: [first, wa, wc],
        crm: first * wa + wc,
        crmShare: 0,
        igm,
      });
      const next = model.permuteForBlock(i, z); // back to natural order
      tf.dispose([xp, a, c, z, zerosGuess, x]);
      x = next;
    }
  } finally {
    x.dispose();
  }
  const total = blocks.reduce((s, b) => s + b.crm, 0);
  for (const b of blocks) b.crmShare = total > 0 ? b.crm / total : 1 / blocks.length;
  return { norm: kind, blocks };
}
