/**
 * Classifier-free guidance of TarFlow blocks (the reference's sampling
 * guidance; the formula is @tarflow/solvers' GuidanceOptions):
 *
 *     p = p_c + w_t · (p_c − p_u)
 *
 * with p_c the block's affine parameters for the labels and p_u those for
 * "no label" (the mean class embedding) at the guidance's attention
 * temperature. Both branches run in one network pass: the batch is doubled —
 * conditional rows, then unconditional ones — and split after the pass.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { guideParams, type GuidanceOptions } from '@tarflow/solvers';

/** Guidance settings of a TarFlow sampler: scale, target (α, γ or both), annealing, the unconditional branch's attention temperature. */
export type GuidanceSettings = GuidanceOptions;

/** Whether `guidance` guides at all (a scale above 0). */
export function isGuided(guidance: GuidanceSettings | undefined): guidance is GuidanceSettings {
  return !!guidance && guidance.scale > 0;
}

/** The conditioning of a doubled batch: the labels (or none), then −1 for each row; attention temperature 1, then the guidance's. */
export function guidedBranches(batch: number, labels: tf.Tensor1D | undefined, guidance: GuidanceSettings): { labels?: tf.Tensor1D; attnTemp: number | tf.Tensor1D } {
  const t = guidance.attnTemp;
  return {
    labels: labels ? (tf.concat([labels, tf.fill([batch], -1, 'int32')]) as tf.Tensor1D) : undefined,
    attnTemp: t === undefined || t === 1 ? 1 : (tf.concat([tf.ones([batch]), tf.fill([batch], t)]) as tf.Tensor1D),
  };
}

/**
 * One guided network pass over rows [start, start + n) of a `tokens`-long
 * sequence: `run` evaluates x doubled along the batch axis `axis` with the
 * doubled batch's conditioning and returns the raw projection `out` (batch
 * on `axis`, rows on the second-to-last axis) and anything else; `affine`
 * splits a projection into (α, γ). Returns the guided (α, γ), shaped as one
 * branch's, with run's other results. Call inside a tidy.
 */
export function guidedPass<R extends { out: tf.Tensor }>(
  x: tf.Tensor,
  axis: number,
  labels: tf.Tensor1D | undefined,
  guidance: GuidanceSettings,
  tokens: number,
  start: number,
  affine: (out: tf.Tensor) => { logScale: tf.Tensor; shift: tf.Tensor },
  run: (both: tf.Tensor, branch: { labels?: tf.Tensor1D; attnTemp: number | tf.Tensor1D }) => R,
): Omit<R, 'out'> & { logScale: tf.Tensor; shift: tf.Tensor } {
  const { out, ...rest } = run(tf.concat([x, x], axis), guidedBranches(x.shape[axis], labels, guidance));
  const [c, u] = tf.split(out, 2, axis);
  const n = out.shape[out.rank - 2];
  // guideParams works on [B', n, ·]: fold any leading axes into the batch, and unfold after.
  const fold = (t: tf.Tensor) => tf.reshape(t, [-1, n, t.shape[t.rank - 1]]) as PatchSeq;
  const pc = affine(fold(c));
  const pu = affine(fold(u));
  const g = guideParams(
    { logScale: pc.logScale as PatchSeq, shift: pc.shift as PatchSeq },
    { logScale: pu.logScale as PatchSeq, shift: pu.shift as PatchSeq },
    guidance,
    tokens,
    start,
  );
  const unfold = (t: tf.Tensor) => tf.reshape(t, [...c.shape.slice(0, -1), t.shape[t.rank - 1]]);
  return { ...(rest as Omit<R, 'out'>), logScale: unfold(g.logScale), shift: unfold(g.shift) };
}
