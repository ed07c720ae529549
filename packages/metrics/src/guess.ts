/**
 * Calibrated initial guesses for the joint solve: the per-class mean of the
 * first-sampled block's exact output over a calibration batch, plus a linear
 * term in the block's input (per position and feature, the regression
 * coefficient of the output's deviation from its class mean on the input).
 * The first block is the one whose Jacobi iterations start farthest from the
 * answer; starting it there instead of at zeros or its noise input saves joint
 * iterations (measured in docs/planner.md).
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { cycleLabels, scaleNoise, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import { solveBlock, type GuessTable } from '@tarflow/solvers';

export interface GuessTableOptions {
  /** Calibration samples per class (per table for an unconditional model); default 8. */
  perClass?: number;
  guidance?: GuidanceSettings;
  temperature?: number;
  /** Seed of the calibration noise; keep it apart from the noise the guess is judged on. */
  seed?: number;
}

/**
 * The first-sampled block's calibrated guess (in its own position order):
 * rows 0 … K − 1 the class means of its exact output, a last row (the mean of
 * all rows) for unlabelled samples — an unconditional model gets one row —
 * and the scale of the linear term in its input.
 */
export function classMeanGuess(model: TarFlow, options: GuessTableOptions = {}): GuessTable {
  const K = model.config.num_classes;
  const T = model.tokens;
  const D = model.patchDim;
  const per = options.perClass ?? 8;
  if (!(Number.isInteger(per) && per >= 1)) throw new Error(`classMeanGuess: perClass must be a positive integer, got ${per}`);
  const n = Math.max(1, K) * per;
  const L = model.blocks.length;
  const labels = K > 0 ? tf.tensor1d(cycleLabels(n, K), 'int32') : undefined;
  const z = tf.tidy(() => {
    const noise = tf.randomNormal([n, T, D], 0, 1, 'float32', options.seed ?? 4321);
    return model.permuteForBlock(L - 1, scaleNoise(model, noise as PatchSeq, options.temperature ?? 1));
  });
  try {
    const { x } = solveBlock(model.samplingMap(L - 1, labels, options.guidance), z, { kind: 'sequential' });
    const [rows, scale] = tf.tidy(() => {
      const flat = tf.reshape(x, [n, T * D]);
      let means: tf.Tensor2D;
      let deviation: tf.Tensor;
      if (!labels) {
        means = tf.mean(flat, 0, true) as tf.Tensor2D;
        deviation = tf.sub(flat, means);
      } else {
        const oneHot = tf.oneHot(labels, K).toFloat(); // [n, K]
        means = tf.div(tf.matMul(oneHot, flat, true, false), tf.expandDims(tf.sum(oneHot, 0), 1)) as tf.Tensor2D; // [K, T·D]
        deviation = tf.sub(flat, tf.matMul(oneHot, means));
        means = tf.concat([means, tf.mean(means, 0, true)], 0) as tf.Tensor2D;
      }
      // Least squares per position and feature: deviation ≈ scale · z (z has mean zero).
      const zf = tf.reshape(z, [n, T * D]);
      const s = tf.div(tf.sum(tf.mul(deviation, zf), 0), tf.add(tf.sum(tf.square(zf), 0), 1e-12));
      return [means, s];
    });
    x.dispose();
    const table: GuessTable = { rows: rows.shape[0], tokens: T, dim: D, data: Array.from(rows.dataSync()), scale: Array.from(scale.dataSync()) };
    tf.dispose([rows, scale]);
    return table;
  } finally {
    z.dispose();
    labels?.dispose();
  }
}
