/**
 * Checks of user-supplied values, in the user's terms: which flag or file,
 * what was given, what is allowed. Flag parsers (args.ts) and the commands'
 * file readers share them, so a value is judged the same wherever it comes
 * from. Sizes are bounded here, before anything is allocated for them.
 * Light on imports: flag errors answer without loading tfjs.
 */
import { CliError } from './errors.js';

/** Upper bounds of sizes a run may ask for. */
export const LIMITS = {
  /** Samples in one `sample` run (all shards together). */
  samples: 1_000_000,
  /** Samples per model call (--chunk), and batches of plan, train and bench. */
  batch: 4096,
  /** Calibration images taken from a dataset (--count). */
  calibration: 100_000,
  /** Training steps and checkpoint intervals. */
  steps: 100_000_000,
  /** Seeds: 32-bit unsigned integers. */
  seed: 2 ** 32 - 1,
  /** Values of other integer flags (modules, iterations, images per row…). */
  count: 1_000_000,
} as const;

/** An integer range, inclusive at both ends. */
export interface IntRange {
  min: number;
  max: number;
}

/** A number range; `min` is exclusive when `exclusive`. */
export interface NumberRange {
  min?: number;
  max?: number;
  exclusive?: boolean;
}

/** "an integer from 1 to 4096" / "an integer >= 0". */
export function describeIntRange({ min, max }: IntRange): string {
  return max >= Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
}

/** "a number > 0", "a number from 0 to 1", "a finite number". */
export function describeNumberRange({ min, max, exclusive }: NumberRange): string {
  if (min === undefined && max === undefined) return 'a finite number';
  if (max === undefined) return `a number ${exclusive ? '>' : '>='} ${min}`;
  if (min === undefined) return `a number <= ${max}`;
  return exclusive ? `a number > ${min} and <= ${max}` : `a number from ${min} to ${max}`;
}

/**
 * The integer written in `text` when it lies in `range`, else the reason it
 * does not ("expected an integer from 1 to 4096"), as `{ error }`. Only plain
 * decimal integers count: '1e8', '0x10', '2.0' and '' are not integers here.
 */
export function parseIntIn(text: string, range: IntRange): { value: number } | { error: string } {
  const t = text.trim();
  const n = Number(t);
  if (!/^[+-]?\d+$/.test(t) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    return { error: `expected ${describeIntRange(range)}` };
  }
  return { value: n };
}

/** The finite number written in `text` when it lies in `range`, else the reason. */
export function parseNumberIn(text: string, range: NumberRange): { value: number } | { error: string } {
  const t = text.trim();
  const n = t === '' ? NaN : Number(t);
  const { min = -Infinity, max = Infinity, exclusive = false } = range;
  if (!Number.isFinite(n) || n < min || (exclusive && n === min) || n > max) return { error: `expected ${describeNumberRange(range)}` };
  return { value: n };
}

/**
 * An integer field read from a file (metadata, a header): returns it when it
 * lies in `range`, else throws "<where>: <field> must be an integer from … (it is '…')".
 */
export function fileInteger(value: string | number | undefined, range: IntRange, where: string, field: string): number {
  const r = value === undefined ? null : parseIntIn(String(value), range);
  if (r && 'value' in r) return r.value;
  const given = value === undefined ? 'it is missing' : `it is '${String(value).slice(0, 40)}'`;
  throw new CliError(`${where}: ${field} must be ${describeIntRange(range)} (${given})`);
}

/** Checks that a run's size is within LIMITS.samples before anything is allocated for it. */
export function checkSampleCount(n: number, where: string): number {
  if (n < 1) throw new CliError(`${where}: the run has no samples`);
  if (!Number.isSafeInteger(n) || n > LIMITS.samples) throw new CliError(`${where}: ${n} samples, but a run holds at most ${LIMITS.samples}`);
  return n;
}
