/**
 * Calibrated initial guesses for the first block of a joint solve (a
 * JointStrategy with `guess: 'table'`). The table is data, passed beside the
 * strategy; @tarflow/metrics' classMeanGuess makes one.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';

/**
 * A calibrated initial iterate of the first stage (in its position order):
 * row r of `data` for label r, the last row for unlabelled (unconditional,
 * label −1) samples — a model without classes has one row — plus, where
 * `scale` is given, scale ⊙ z with z the stage's input (a per-position,
 * per-feature linear term: x ≈ row + scale · z).
 */
export interface GuessTable {
  rows: number;
  tokens: number;
  dim: number;
  /** rows × tokens × dim values, row-major. */
  data: number[];
  /** tokens × dim values. */
  scale?: number[];
}

/** Validates a guess table (throws an Error naming the problem). */
export function validateGuessTable(t: unknown, where = 'guess table'): GuessTable {
  if (typeof t !== 'object' || t === null) throw new Error(`${where}: expected an object`);
  const o = t as Record<string, unknown>;
  for (const k of ['rows', 'tokens', 'dim'] as const) {
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < 1) {
      throw new Error(`${where}.${k} must be a positive integer, got ${JSON.stringify(o[k])}`);
    }
  }
  const rows = o.rows as number;
  const tokens = o.tokens as number;
  const dim = o.dim as number;
  const finite = (a: unknown, n: number) => Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!finite(o.data, rows * tokens * dim)) throw new Error(`${where}.data must hold rows × tokens × dim = ${rows * tokens * dim} finite numbers`);
  if (o.scale !== undefined && !finite(o.scale, tokens * dim)) throw new Error(`${where}.scale must hold tokens × dim = ${tokens * dim} finite numbers`);
  return { rows, tokens, dim, data: o.data as number[], ...(o.scale !== undefined ? { scale: o.scale as number[] } : {}) };
}

/**
 * The guess a table gives a batch with first-stage input `z` [B, T, D]: row
 * `label` per sample (the last row for label −1 or no labels), plus
 * scale ⊙ z where the table has a scale. Returns [B, T, D].
 */
export function guessFromTable(table: GuessTable, z: PatchSeq, labels?: tf.Tensor1D): PatchSeq {
  const batch = z.shape[0];
  return tf.tidy(() => {
    const rows = tf.tensor3d(table.data, [table.rows, table.tokens, table.dim]);
    const base =
      !labels || table.rows === 1
        ? tf.tile(tf.slice(rows, [table.rows - 1, 0, 0], [1, -1, -1]), [batch, 1, 1])
        : tf.gather(rows, tf.where(tf.less(labels, 0), tf.fill([batch], table.rows - 1, 'int32'), tf.minimum(labels, tf.scalar(table.rows - 2, 'int32'))));
    if (!table.scale) return base as PatchSeq;
    return tf.add(base, tf.mul(tf.tensor2d(table.scale, [table.tokens, table.dim]), z)) as PatchSeq;
  });
}
