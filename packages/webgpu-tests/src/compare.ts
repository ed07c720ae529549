/**
 * Comparison with the reference at the fixture's own stated tolerance, e.g.
 * "float32: max abs error 1e-4 relative to max(1, |reference|)": an output
 * element passes when |got − ref| ≤ eps · max(1, |ref|). Expected values are
 * always read from the fixture's expected file.
 */
import { toFloat32, type SafetensorsFile } from '@tarflow/checkpoint';

const TOLERANCE = /max abs error ([0-9.eE+-]+) relative to max\(1, \|reference\|\)/;

/** eps from the fixture's tolerance statement (throws if the statement has another form). */
export function parseTolerance(statement: string): number {
  const m = TOLERANCE.exec(statement);
  if (!m || !Number.isFinite(Number(m[1]))) throw new Error(`unrecognised tolerance statement: ${JSON.stringify(statement)}`);
  return Number(m[1]);
}

export interface Comparison {
  key: string;
  /** Largest |got − ref|. */
  maxAbsError: number;
  /** Largest (|got − ref| − allowed); ≤ 0 means every element is within tolerance. */
  worstExcess: number;
  /** Index and values of the worst element. */
  worstAt: { index: number; got: number; ref: number };
  ok: boolean;
}

/** Compares `got` with the expected file's `key` element by element. */
export function compareWithReference(expected: SafetensorsFile, key: string, got: ArrayLike<number>, eps: number): Comparison {
  const raw = expected.tensors.get(key);
  if (!raw) throw new Error(`the expected file has no tensor '${key}'`);
  const ref = toFloat32(raw, key);
  if (got.length !== ref.length) throw new Error(`${key}: got ${got.length} values, the reference has ${ref.length}`);
  let maxAbsError = 0;
  let worstExcess = -Infinity;
  let worstAt = { index: -1, got: NaN, ref: NaN };
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    const excess = Number.isNaN(err) ? Infinity : err - eps * Math.max(1, Math.abs(ref[i]));
    if (!Number.isNaN(err)) maxAbsError = Math.max(maxAbsError, err);
    else maxAbsError = NaN;
    if (excess > worstExcess) {
      worstExcess = excess;
      worstAt = { index: i, got: got[i], ref: ref[i] };
    }
  }
  return { key, maxAbsError, worstExcess, worstAt, ok: worstExcess <= 0 };
}

/** A one-line account of a comparison, for assertion messages and logs. */
export function describeComparison(c: Comparison, eps: number): string {
  const where = `worst at [${c.worstAt.index}]: got ${c.worstAt.got}, reference ${c.worstAt.ref}`;
  return `${c.key}: max abs error ${c.maxAbsError.toExponential(3)} (${c.ok ? 'within' : 'OUTSIDE'} ${eps} · max(1, |ref|); ${where})`;
}
