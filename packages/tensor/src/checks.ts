/**
 * Value checks for image batches: every value finite, and (optionally) inside
 * a range. A failed check names what was checked, how many values fail, and
 * where the first one is — image, channel, row and column of [B, C, H, W].
 */
import type { Tensor } from '@tensorflow/tfjs-core';

/** Error thrown when values of a tensor are non-finite or out of range. */
export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}

/** Values to check: a tensor (read back with dataSync) or flat data with its shape. */
export type CheckedValues = Tensor | { data: ArrayLike<number>; shape: readonly number[] };

export interface ValueCheckOptions {
  /** Allowed range [lo, hi], inclusive; values outside count as bad. */
  range?: readonly [number, number];
  /** How the range is described in the message (default `[lo, hi]`). */
  rangeText?: string;
}

/** Where flat index `i` lies in `shape`: "image b, channel c, row y, column x" for 4-D, else `[i, j, …]`. */
export function describeIndex(i: number, shape: readonly number[]): string {
  const at: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = Math.max(1, shape[d]);
    at.unshift(rest % size);
    rest = Math.floor(rest / size);
  }
  if (shape.length === 4) return `image ${at[0]}, channel ${at[1]}, row ${at[2]}, column ${at[3]}`;
  return `index [${at.join(', ')}]`;
}

/** A non-finite value in words: 'not a number', '+infinity', '-infinity'. */
function nonFinite(v: number): string {
  return Number.isNaN(v) ? 'not a number' : v > 0 ? '+infinity' : '-infinity';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Throws a ValueError naming `what` unless every value is finite (and inside
 * `options.range` when given). Non-finite values are reported before
 * out-of-range ones: "what: 3 non-finite values (first NaN at image 0, …)".
 */
export function assertFiniteImages(values: CheckedValues, what: string, options: ValueCheckOptions = {}): void {
  const { data, shape } = 'dataSync' in values ? { data: values.dataSync(), shape: values.shape } : values;
  let bad = 0;
  let first = -1;
  let outside = 0;
  let firstOutside = -1;
  const [lo, hi] = options.range ?? [-Infinity, Infinity];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      if (bad++ === 0) first = i;
    } else if (v < lo || v > hi) {
      if (outside++ === 0) firstOutside = i;
    }
  }
  if (bad > 0) {
    throw new ValueError(`${what}: ${plural(bad, 'non-finite value')} of ${data.length} (first ${nonFinite(data[first])}, at ${describeIndex(first, shape)})`);
  }
  if (outside > 0) {
    const range = options.rangeText ?? `[${lo}, ${hi}]`;
    throw new ValueError(
      `${what}: ${plural(outside, 'value')} of ${data.length} outside ${range} (first ${data[firstOutside]}, at ${describeIndex(firstOutside, shape)})`,
    );
  }
}
