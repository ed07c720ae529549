/**
 * The in-memory dataset type every TarFlow package reads, plus deterministic
 * subset / shuffle / batch / split helpers. Plain typed arrays, no tfjs.
 */
import { DatasetError } from './errors.js';
import { deriveSeed, mulberry32, permutation, shuffleInPlace } from '@tarflow/tensor/random';
import { resizePlanar, type ResizeMethod } from './resize.js';

/** `[count, channels, height, width]`. */
export type ImageShape = [count: number, channels: number, height: number, width: number];

/**
 * A labelled image dataset held in memory.
 *
 * `images` is channel-first, `[count, channels, height, width]` flattened in
 * row-major order, with pixel values scaled to [-1, 1] (-1 = black, 1 = white;
 * an 8-bit value v maps to v / 127.5 - 1). `labels[i]` is the class of image i,
 * in [0, numClasses). Unlabelled datasets have `numClasses = 1` and all labels 0.
 */
export interface ImageDataset {
  /** Short name, e.g. `mnist/train`, `fashion-mnist/test`, or a folder's base name. */
  name: string;
  /** `[count, channels, height, width]` pixels in [-1, 1]. */
  images: Float32Array;
  /** `[count]` class indices in [0, numClasses). */
  labels: Int32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** Human-readable class names, `classNames[label]`, when known. */
  classNames?: string[];
}

/** One mini-batch: copies of the selected images and labels. */
export interface Batch {
  /** `[n, channels, height, width]` pixels in [-1, 1]. */
  images: Float32Array;
  /** `[n]` class indices. */
  labels: Int32Array;
  /** `[n, channels, height, width]`. */
  shape: ImageShape;
  /** `[n]` indices of these images in the source dataset. */
  indices: Int32Array;
}

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Shuffle with this seed; omit to iterate in dataset order. */
  seed?: number;
  /** Epoch number, mixed into the seed so every epoch has its own (reproducible) order. Default 0. */
  epoch?: number;
  /** Drop the last batch when it has fewer than `batchSize` images. Default false. */
  dropLast?: boolean;
}

/** Number of values in one image (`channels * height * width`). */
export function imageSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/** `[count, channels, height, width]` of a dataset. */
export function datasetShape(ds: ImageDataset): ImageShape {
  return [ds.count, ds.channels, ds.height, ds.width];
}

/**
 * Builds an {@link ImageDataset} and checks that its arrays agree with its
 * dimensions and that every label is in [0, numClasses). `count` defaults to
 * `labels.length`. Throws DatasetError (naming `name`) when they do not.
 */
export function createDataset(init: Omit<ImageDataset, 'count'> & { count?: number }): ImageDataset {
  const { name, images, labels, channels, height, width, numClasses, classNames } = init;
  const count = init.count ?? labels.length;
  for (const [key, v] of Object.entries({ count, channels, height, width, numClasses })) {
    if (!Number.isInteger(v) || v < 0) throw new DatasetError(name, `${key} must be a non-negative integer, got ${v}`);
  }
  if (labels.length !== count) throw new DatasetError(name, `labels has ${labels.length} entries, expected ${count}`);
  const per = channels * height * width;
  if (images.length !== count * per) {
    throw new DatasetError(name, `images has ${images.length} values, expected ${count}x${channels}x${height}x${width} = ${count * per}`);
  }
  if (classNames !== undefined && classNames.length !== numClasses) {
    throw new DatasetError(name, `classNames has ${classNames.length} entries, expected numClasses = ${numClasses}`);
  }
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (l < 0 || l >= numClasses) throw new DatasetError(name, `label ${l} of image ${i} is outside [0, ${numClasses})`);
  }
  const ds: ImageDataset = { name, images, labels, count, channels, height, width, numClasses };
  if (classNames !== undefined) ds.classNames = classNames.slice();
  return ds;
}

/** A view (no copy) of image `index`: `[channels, height, width]`. */
export function getImage(ds: ImageDataset, index: number): Float32Array {
  checkIndex(ds, index);
  const per = imageSize(ds);
  return ds.images.subarray(index * per, (index + 1) * per);
}

/**
 * A new dataset holding copies of the images at `indices`, in that order
 * (repeats allowed). Keeps name, classes and dimensions.
 */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, name: string = ds.name): ImageDataset {
  const n = indices.length;
  const per = imageSize(ds);
  const images = new Float32Array(n * per);
  const labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    checkIndex(ds, i);
    images.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = ds.labels[i];
  }
  return withData(ds, name, images, labels, n);
}

/**
 * A copy of `ds` in a seeded random order. Deterministic: the same seed gives
 * the same order on every machine (mulberry32 + Fisher–Yates, see {@link permutation}).
 */
export function shuffled(ds: ImageDataset, seed: number): ImageDataset {
  return subset(ds, permutation(ds.count, seed));
}

/** Concatenates datasets with identical image dimensions and classes. */
export function concatDatasets(datasets: readonly ImageDataset[], name?: string): ImageDataset {
  const first = datasets[0];
  if (first === undefined) throw new RangeError('concatDatasets: need at least one dataset');
  for (const ds of datasets) {
    if (ds.channels !== first.channels || ds.height !== first.height || ds.width !== first.width || ds.numClasses !== first.numClasses) {
      throw new DatasetError(ds.name, `cannot concatenate with ${first.name}: dimensions or class count differ`);
    }
  }
  const count = datasets.reduce((s, d) => s + d.count, 0);
  const per = imageSize(first);
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  let at = 0;
  for (const ds of datasets) {
    images.set(ds.images, at * per);
    labels.set(ds.labels, at);
    at += ds.count;
  }
  return withData(first, name ?? first.name, images, labels, count);
}

/** The number of batches {@link batches} yields. */
export function numBatches(count: number, batchSize: number, dropLast = false): number {
  checkBatchSize(batchSize);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * Iterates over mini-batches of `batchSize` images. With `seed`, the order is
 * a seeded permutation that depends on `(seed, epoch)` (reproducible, and
 * different for each epoch); without it, images come in dataset order. The
 * last batch is smaller unless `dropLast` is set.
 */
export function* batches(ds: ImageDataset, batchSize: number, options: BatchOptions = {}): Generator<Batch, void, undefined> {
  checkBatchSize(batchSize);
  const { seed, epoch = 0, dropLast = false } = options;
  let order: Int32Array;
  if (seed === undefined) {
    order = new Int32Array(ds.count);
    for (let i = 0; i < ds.count; i++) order[i] = i;
  } else {
    order = permutation(ds.count, deriveSeed(seed, epoch));
  }
  const per = imageSize(ds);
  const total = numBatches(ds.count, batchSize, dropLast);
  for (let b = 0; b < total; b++) {
    const indices = order.slice(b * batchSize, Math.min((b + 1) * batchSize, ds.count));
    const n = indices.length;
    const images = new Float32Array(n * per);
    const labels = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const i = indices[k];
      images.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
      labels[k] = ds.labels[i];
    }
    yield { images, labels, shape: [n, ds.channels, ds.height, ds.width], indices };
  }
}

/** The indices picked by {@link splitTrainTest}. */
export interface SplitIndices {
  train: Int32Array;
  test: Int32Array;
}

/**
 * The deterministic hold-out behind {@link splitTrainTest}, as indices into `ds`.
 *
 * Stratified by label: class c (with n_c of the N images) gives
 * floor(testCount · n_c / N) test images, and the remaining few go to the
 * classes with the largest fractional parts (ties → lower class index), so
 * the test set has exactly `testCount` images and the class mix of `ds`.
 * Which images of a class are held out is chosen by a seeded shuffle within
 * the class. Both index lists are then put in a seeded random order. Train
 * and test are disjoint and together cover every index once.
 */
export function splitIndices(ds: Pick<ImageDataset, 'labels' | 'count' | 'numClasses' | 'name'>, testCount: number, seed: number): SplitIndices {
  if (!Number.isInteger(testCount) || testCount < 0 || testCount > ds.count) {
    throw new RangeError(`splitTrainTest(${ds.name}): testCount must be an integer in [0, ${ds.count}], got ${testCount}`);
  }
  const rng = mulberry32(deriveSeed(seed, 0x7e57));
  const byClass: number[][] = Array.from({ length: Math.max(ds.numClasses, 1) }, () => []);
  for (let i = 0; i < ds.count; i++) {
    const list = byClass[ds.labels[i]];
    if (list === undefined) throw new DatasetError(ds.name, `label ${ds.labels[i]} of image ${i} is outside [0, ${ds.numClasses})`);
    list.push(i);
  }
  const members = byClass.map((list) => shuffleInPlace(Int32Array.from(list), rng));
  const quota = members.map((m) => (ds.count === 0 ? 0 : Math.floor((testCount * m.length) / ds.count)));
  let missing = testCount - quota.reduce((s, q) => s + q, 0);
  const byRemainder = members
    .map((m, c) => ({ c, frac: ds.count === 0 ? 0 : (testCount * m.length) / ds.count - quota[c] }))
    .sort((a, b) => b.frac - a.frac || a.c - b.c);
  for (const { c } of byRemainder) {
    if (missing === 0) break;
    if (quota[c] < members[c].length) {
      quota[c]++;
      missing--;
    }
  }
  const test = new Int32Array(testCount);
  const train = new Int32Array(ds.count - testCount);
  let t = 0;
  let r = 0;
  members.forEach((m, c) => {
    for (let k = 0; k < m.length; k++) {
      if (k < quota[c]) test[t++] = m[k];
      else train[r++] = m[k];
    }
  });
  shuffleInPlace(test, rng);
  shuffleInPlace(train, rng);
  return { train, test };
}

/**
 * Splits `ds` into disjoint train and test datasets with a deterministic,
 * label-stratified hold-out of `testCount` images (see {@link splitIndices}).
 * The same `(ds, testCount, seed)` always gives the same split. Names get
 * `/train` and `/test` appended.
 */
export function splitTrainTest(ds: ImageDataset, testCount: number, seed: number): { train: ImageDataset; test: ImageDataset } {
  const { train, test } = splitIndices(ds, testCount, seed);
  return { train: subset(ds, train, `${ds.name}/train`), test: subset(ds, test, `${ds.name}/test`) };
}

/**
 * Resizes every image to `size`×`size` (area averaging when shrinking, bilinear
 * when enlarging, unless `method` says otherwise). Non-square images are
 * stretched; crop first if that matters. Returns `ds` itself when already that size.
 */
export function resizeDataset(ds: ImageDataset, size: number, method: ResizeMethod = 'auto'): ImageDataset {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`resizeDataset: size must be a positive integer, got ${size}`);
  if (ds.height === size && ds.width === size) return ds;
  const per = imageSize(ds);
  const outPer = ds.channels * size * size;
  const images = new Float32Array(ds.count * outPer);
  for (let i = 0; i < ds.count; i++) {
    const img = ds.images.subarray(i * per, (i + 1) * per);
    images.set(resizePlanar(img, ds.channels, ds.height, ds.width, size, size, method), i * outPer);
  }
  return { ...withData(ds, ds.name, images, ds.labels.slice(), ds.count), height: size, width: size };
}

function withData(ds: ImageDataset, name: string, images: Float32Array, labels: Int32Array, count: number): ImageDataset {
  const out: ImageDataset = {
    name,
    images,
    labels,
    count,
    channels: ds.channels,
    height: ds.height,
    width: ds.width,
    numClasses: ds.numClasses,
  };
  if (ds.classNames !== undefined) out.classNames = ds.classNames.slice();
  return out;
}

function checkIndex(ds: ImageDataset, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= ds.count) throw new RangeError(`${ds.name}: image index ${i} is outside [0, ${ds.count})`);
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
}

/**
 * Converts between grayscale and RGB: 1 → 3 repeats the gray plane, 3 → 1
 * takes ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B). Returns `ds` itself
 * when it already has `channels` channels.
 */
export function convertChannels(ds: ImageDataset, channels: 1 | 3): ImageDataset {
  if (ds.channels === channels) return ds;
  const plane = ds.height * ds.width;
  const images = new Float32Array(ds.count * channels * plane);
  if (ds.channels === 1 && channels === 3) {
    for (let i = 0; i < ds.count; i++) {
      const src = ds.images.subarray(i * plane, (i + 1) * plane);
      for (let c = 0; c < 3; c++) images.set(src, (i * 3 + c) * plane);
    }
  } else if (ds.channels === 3 && channels === 1) {
    for (let i = 0; i < ds.count; i++) {
      const base = i * 3 * plane;
      for (let p = 0; p < plane; p++) {
        images[i * plane + p] = 0.299 * ds.images[base + p] + 0.587 * ds.images[base + plane + p] + 0.114 * ds.images[base + 2 * plane + p];
      }
    }
  } else {
    throw new RangeError(`convertChannels(${ds.name}): cannot convert ${ds.channels} channels to ${channels}`);
  }
  return { ...withData(ds, ds.name, images, ds.labels.slice(), ds.count), channels };
}
