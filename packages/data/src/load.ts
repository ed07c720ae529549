/**
 * One entry point for the CLI: a dataset by name or by folder path.
 */
import { existsSync, statSync } from 'node:fs';
import { convertChannels, resizeDataset, splitTrainTest, subset, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { loadFashionMnist } from './fashion.js';
import { loadMnist, MNIST_SPLIT_SEED } from './mnist.js';
import { loadPngFolder } from './folder.js';
import type { ResizeMethod } from './resize.js';

/** `'mnist'`, `'fashion-mnist'`, or the path of a folder of PNG images. */
export type DatasetSpec = 'mnist' | 'fashion-mnist' | (string & {});

/** Options of {@link loadDataset}. Each applies where it makes sense (see there). */
export interface LoadDatasetOptions {
  /** Which part. Default `train` for mnist / fashion-mnist, `all` for a folder. */
  split?: 'train' | 'test' | 'all';
  /** Held-out test images: MNIST (default 1000) and folders (default min(1000, ⌊count / 10⌋)). */
  testCount?: number;
  /** Seed of the held-out split for MNIST and folders (default 0). */
  seed?: number;
  /** Fashion-MNIST folder (default `$TARFLOW_FASHION_MNIST_DIR`, else Debian's). */
  dir?: string;
  /** Keep only the first `limit` images of the chosen split. */
  limit?: number;
  /** Square side length. Required-with-default for folders (default 32); resizes MNIST / Fashion-MNIST when it is not 28. */
  size?: number;
  /** Channels: folders default to 3; MNIST / Fashion-MNIST are 1 unless 3 is asked for (gray repeated). */
  channels?: 1 | 3;
  /** Folder labelling (see {@link loadPngFolder}); default `none`. */
  labels?: 'subfolders' | 'none';
  /** Resampling method (default `auto`). */
  resize?: ResizeMethod;
}

/** Default side length of folder datasets in {@link loadDataset}. */
export const DEFAULT_FOLDER_SIZE = 32;

/**
 * Loads a dataset for training, sampling or metrics:
 * - `'mnist'`: {@link loadMnist} (fixed stratified hold-out; `split`, `testCount`, `seed`),
 * - `'fashion-mnist'`: {@link loadFashionMnist} (official 60k/10k split; `dir`),
 * - anything else: a folder of PNGs, {@link loadPngFolder} (`size`, `channels`,
 *   `labels`, `resize`); `split` `train` / `test` apply the deterministic
 *   {@link splitTrainTest} hold-out of `testCount` images with `seed`.
 * Then `limit`, `size` and `channels` are applied. An unknown name that is not
 * an existing folder throws DatasetError.
 */
export function loadDataset(spec: DatasetSpec, options: LoadDatasetOptions = {}): ImageDataset {
  let ds: ImageDataset;
  if (spec === 'mnist') {
    ds = loadMnist({
      split: options.split ?? 'train',
      ...(options.testCount !== undefined ? { testCount: options.testCount } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    });
  } else if (spec === 'fashion-mnist') {
    ds = loadFashionMnist({
      split: options.split ?? 'train',
      ...(options.dir !== undefined ? { dir: options.dir } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
  } else {
    if (!existsSync(spec) || !statSync(spec).isDirectory()) {
      throw new DatasetError(spec, "unknown dataset: expected 'mnist', 'fashion-mnist' or the path of a folder of PNG images");
    }
    ds = loadPngFolder(spec, {
      size: options.size ?? DEFAULT_FOLDER_SIZE,
      channels: options.channels ?? 3,
      labels: options.labels ?? 'none',
      resize: options.resize ?? 'auto',
    });
    const split = options.split ?? 'all';
    if (split === 'train' || split === 'test') {
      const testCount = options.testCount ?? Math.min(1000, Math.floor(ds.count / 10));
      ds = splitTrainTest(ds, testCount, options.seed ?? MNIST_SPLIT_SEED)[split];
    } else if (split !== 'all') {
      throw new RangeError(`loadDataset: split must be 'train', 'test' or 'all', got ${String(split)}`);
    }
  }
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 0) throw new RangeError(`loadDataset: limit must be a non-negative integer, got ${options.limit}`);
    if (options.limit < ds.count) ds = subset(ds, Array.from({ length: options.limit }, (_, i) => i));
  }
  if (options.size !== undefined) ds = resizeDataset(ds, options.size, options.resize ?? 'auto');
  if (options.channels !== undefined) ds = convertChannels(ds, options.channels);
  return ds;
}
