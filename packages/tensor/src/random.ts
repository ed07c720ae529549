/**
 * Small, portable seeded randomness, and the seeded draws of a sampling run. Everything here uses 32-bit integer
 * arithmetic (`Math.imul`, `>>>`), so the same seed gives the same sequence on
 * every machine and JavaScript engine.
 *
 * No tfjs here (the `@tarflow/tensor/random` entry): pages can draw labels
 * without loading tfjs.
 */
import { ValueError } from './checks.js';

/** A function returning uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a tiny 32-bit-state PRNG. Returns floats in [0, 1) with 32 bits
 * of randomness. `seed` is reduced to a uint32 (`seed >>> 0`).
 */
export function mulberry32(seed: number): Rng {
  let a = toUint32(seed);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Combines several integers (a seed, an epoch, a stream id, ...) into one
 * well-mixed uint32 seed (murmur3-style finalizer over each part).
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = fmix32((h ^ fmix32(toUint32(part))) >>> 0);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  return fmix32(h);
}

/**
 * The seed to hand a tfjs random op for `seed`: tfjs reads seed 0 as "no
 * seed" and draws afresh on every call, so 0 maps to a fixed non-zero value.
 */
export function tfSeed(seed: number): number {
  return seed === 0 ? 0x9e3779b9 : seed;
}

/** A uniform integer in [0, n) drawn from `rng`. */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Shuffles `array` in place (Fisher–Yates) with `rng`; returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}

/** A seeded random permutation of 0..n-1. Same `(n, seed)` → same permutation. */
export function permutation(n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return shuffleInPlace(out, mulberry32(seed));
}

function toUint32(x: number): number {
  if (!Number.isFinite(x)) throw new RangeError(`seed must be a finite number, got ${x}`);
  // Fold in the high bits of integers beyond 32 bits so e.g. 2**32 and 0 differ.
  const hi = Math.floor(x / 4294967296);
  return ((x >>> 0) ^ Math.imul(hi | 0, 0x85ebca6b)) >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniformly random class in [0, numClasses) for each index, from deriveSeed(seed, i, 1) (subset-stable like `seededNoise`). */
export function seededLabels(seed: number, indices: readonly number[], numClasses: number): Int32Array {
  if (!Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new ValueError(`seededLabels: the number of classes must be an integer >= 1, got ${String(numClasses)}`);
  }
  return Int32Array.from(indices, (i) => Math.floor(mulberry32(deriveSeed(seed, i, 1))() * numClasses));
}
