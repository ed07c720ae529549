/**
 * @tarflow/tensor — the typed tensor vocabulary every TarFlow package shares.
 *
 * All packages import tfjs through this module so that one tfjs-core instance
 * (and one backend registry) serves the whole process. `tf` is tfjs-core (a
 * peer dependency: the program's own copy), not the `@tensorflow/tfjs`
 * umbrella — TarFlow needs no layers, converter or data. The plain-JavaScript
 * cpu backend is registered here so that every tfjs call has a backend;
 * ensureBackend() sets up a faster one when the program chose none.
 */
import * as tf from '@tensorflow/tfjs-core';
// What the umbrella package adds to tfjs-core and TarFlow uses: gradients
// (training, the score-based denoising step) and chained ops (x.slice(…)).
// These are ES modules inside tfjs-core's dist that Node cannot load as they
// are, so the build bundles them (see @tarflow/tsup-config).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';

export { tf };
export { ensureBackend, ensureBackendSync, backendChosen } from './default-backend.js';
export { patchWasmMatMul, SPLIT_MIN_MACS } from './wasm-kernels.js';
export { mulberry32, deriveSeed, tfSeed, permutation, shuffleInPlace, randomInt, seededLabels, type Rng } from './random.js';
export { seededNoise } from './draws.js';
export { assertFiniteImages, describeIndex, ValueError, type CheckedValues, type ValueCheckOptions } from './checks.js';
export { fnv1a, fnv1a32, FNV1A_OFFSET } from './hash.js';

/** A batch of patch sequences: [batch, tokens, patchDim]. */
export type PatchSeq = tf.Tensor3D;
/** A batch of images: [batch, channels, height, width]. */
export type ImageBatch = tf.Tensor4D;
/** Integer class labels: [batch]; -1 means "unconditional". */
export type Labels = tf.Tensor1D;
/** A per-sample vector: [batch]. */
export type PerSample = tf.Tensor1D;

/** One dimension of an expected shape: a number, or null for "any". */
export type Dim = number | null;

/** Error thrown when a tensor's shape is not the one an operation needs. */
export class ShapeError extends Error {
  constructor(
    readonly what: string,
    readonly expected: readonly Dim[],
    readonly actual: readonly number[],
  ) {
    super(`${what}: expected shape ${formatShape(expected)}, got ${formatShape(actual)}`);
    this.name = 'ShapeError';
  }
}

/** Formats a shape as `[4, 16, ?]` (null dimensions print as `?`). */
export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** True when `actual` matches `expected` (null matches any size). */
export function shapeMatches(actual: readonly number[], expected: readonly Dim[]): boolean {
  return actual.length === expected.length && expected.every((d, i) => d === null || d === actual[i]);
}

/**
 * Throws a ShapeError naming `what`, the expected and the actual shape unless
 * `t` has the expected shape. Returns the tensor, narrowed to its rank.
 */
export function assertShape<R extends tf.Rank>(
  t: tf.Tensor,
  expected: readonly Dim[] & { length: number },
  what: string,
): tf.Tensor<R> {
  if (!shapeMatches(t.shape, expected)) throw new ShapeError(what, expected, t.shape);
  return t as tf.Tensor<R>;
}

/** Asserts a [batch, tokens, patchDim] patch sequence. */
export function assertPatchSeq(t: tf.Tensor, what: string, batch: Dim = null, tokens: Dim = null, dim: Dim = null): PatchSeq {
  return assertShape<tf.Rank.R3>(t, [batch, tokens, dim], what) as PatchSeq;
}

/** Asserts a [batch, channels, height, width] image batch. */
export function assertImageBatch(
  t: tf.Tensor,
  what: string,
  batch: Dim = null,
  channels: Dim = null,
  height: Dim = null,
  width: Dim = null,
): ImageBatch {
  return assertShape<tf.Rank.R4>(t, [batch, channels, height, width], what) as ImageBatch;
}

/** Asserts a [batch] label vector of integers. */
export function assertLabels(t: tf.Tensor, what: string, batch: Dim = null): Labels {
  assertShape<tf.Rank.R1>(t, [batch], what);
  if (t.dtype !== 'int32') throw new Error(`${what}: expected int32 labels, got ${t.dtype}`);
  return t as Labels;
}

/** Disposes every tensor found in a (nested) value; ignores everything else. */
export function disposeAll(value: unknown): void {
  if (value === null || value === undefined) return;
  if (value instanceof tf.Tensor) {
    if (!value.isDisposed) value.dispose();
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) disposeAll(v);
    return;
  }
  if (typeof value === 'object') {
    for (const v of Object.values(value as Record<string, unknown>)) disposeAll(v);
  }
}

/** Max |a - b| over all elements, as a number. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
